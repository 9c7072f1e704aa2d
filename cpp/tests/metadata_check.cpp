// The metadata checks of the core's model loader (check_metadata in cpp/core/model_loader.h)
// on documents read from stdin, separated by NUL bytes: one line per document, "OK" or
// "ERROR <reason>". tests/unit/test_metadata_agreement.py compares them with the Python
// loader's checks.
#include <iostream>
#include <iterator>
#include <string>

#include "model_loader.h"

int main() {
  std::string all((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  size_t start = 0;
  while (start <= all.size()) {
    size_t end = all.find('\0', start);
    if (end == std::string::npos) end = all.size();
    const std::string text = all.substr(start, end - start);
    try {
      polmlip::check_metadata("model.pt", text);
      std::cout << "OK\n";
    } catch (const std::exception &e) {
      std::string reason = e.what();
      for (char &c : reason)
        if (c == '\n') c = ' ';
      std::cout << "ERROR " << reason << "\n";
    }
    start = end + 1;
  }
  return 0;
}

// The JSON reader of the core (cpp/core/json.h) on one document read from stdin: prints
// "OK <canonical JSON>" or "ERROR <message>". tests/unit/test_json_reader.py runs it on a
// corpus and compares with Python's json module.
#include <iostream>
#include <iterator>
#include <string>

#include "json.h"

int main() {
  std::string text((std::istreambuf_iterator<char>(std::cin)), std::istreambuf_iterator<char>());
  try {
    const std::string out = polmlip::json::canonical(polmlip::json::parse(text));
    std::cout << "OK " << out << "\n";
  } catch (const polmlip::json::ParseError &e) {
    std::cout << "ERROR " << e.what() << "\n";
  }
  return 0;
}

// A JSON reader for the model metadata (RFC 8259), with no dependency beyond the C++
// standard library, so that the LAMMPS and OpenMM plugins build from the same core whatever
// else is installed.
//
// json::parse() reads one document into a json::Value tree and throws json::ParseError,
// with the byte offset, on anything that is not JSON: a trailing comma, a bare NaN or
// Infinity (Python's json.dumps writes them; the metadata never holds one), a lone UTF-16
// surrogate, a control character inside a string, text after the document, or nesting
// deeper than kMaxDepth. Numbers keep whether they were written as integers (no fraction or
// exponent) and, if so, their exact value when it fits in int64. Objects keep their members
// in file order; a repeated key is an error.

#ifndef POLMLIP_CORE_JSON_H
#define POLMLIP_CORE_JSON_H

#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace polmlip {
namespace json {

// The deepest nesting of arrays and objects accepted (the metadata uses 3).
constexpr int kMaxDepth = 64;

struct ParseError : std::runtime_error {
  ParseError(const std::string &what, size_t offset)
      : std::runtime_error(what + " at byte " + std::to_string(offset)), offset(offset) {}
  size_t offset;
};

class Value {
 public:
  enum class Kind { Null, Boolean, Number, String, Array, Object };

  Value() = default;

  Kind kind() const { return kind_; }
  bool is_null() const { return kind_ == Kind::Null; }
  bool is_boolean() const { return kind_ == Kind::Boolean; }
  bool is_number() const { return kind_ == Kind::Number; }
  // a number written without fraction or exponent whose value fits in int64
  bool is_integer() const { return kind_ == Kind::Number && integer_; }
  // a number written without fraction or exponent but beyond int64 (held rounded)
  bool is_big_integer() const { return kind_ == Kind::Number && big_integer_; }
  bool is_string() const { return kind_ == Kind::String; }
  bool is_array() const { return kind_ == Kind::Array; }
  bool is_object() const { return kind_ == Kind::Object; }

  bool boolean() const { return boolean_; }
  double number() const { return number_; }
  int64_t integer() const { return integer_value_; }
  const std::string &string() const { return string_; }
  // elements of an array
  const std::vector<Value> &items() const { return items_; }
  // members of an object, in file order
  const std::vector<std::pair<std::string, Value>> &members() const { return members_; }
  // the member `key` of an object, or nullptr (also for a value that is not an object)
  const Value *find(const std::string &key) const;

 private:
  friend class Parser;
  Kind kind_ = Kind::Null;
  bool boolean_ = false;
  bool integer_ = false;
  bool big_integer_ = false;
  double number_ = 0.0;
  int64_t integer_value_ = 0;
  std::string string_;
  std::vector<Value> items_;
  std::vector<std::pair<std::string, Value>> members_;
};

// Parse `text` (UTF-8) as one JSON document.
Value parse(const std::string &text);

// The value written back as compact JSON with sorted keys, numbers as integers or with 17
// significant digits (the test compares it with Python's json module).
std::string canonical(const Value &value);

}  // namespace json
}  // namespace polmlip

#endif

// The JSON reader of json.h: a recursive-descent parser of RFC 8259.

#include "json.h"

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>

namespace polmlip {
namespace json {

const Value *Value::find(const std::string &key) const {
  for (const auto &member : members_)
    if (member.first == key) return &member.second;
  return nullptr;
}

class Parser {
 public:
  explicit Parser(const std::string &text) : text_(text) {}

  Value document() {
    Value out = value(0);
    skip_space();
    if (pos_ != text_.size()) fail("text after the JSON document");
    return out;
  }

 private:
  const std::string &text_;
  size_t pos_ = 0;

  [[noreturn]] void fail(const std::string &what) const { throw ParseError(what, pos_); }

  bool at_end() const { return pos_ >= text_.size(); }
  char peek() const { return at_end() ? '\0' : text_[pos_]; }

  void skip_space() {
    while (!at_end()) {
      const char c = text_[pos_];
      if (c != ' ' && c != '\t' && c != '\n' && c != '\r') break;
      ++pos_;
    }
  }

  void expect_word(const char *word) {
    for (const char *w = word; *w; ++w, ++pos_)
      if (at_end() || text_[pos_] != *w) fail(std::string("expected '") + word + "'");
  }

  // Skips white space; consumes `c` and returns true if it comes next.
  bool consume(char c) {
    skip_space();
    if (peek() != c) return false;
    ++pos_;
    return true;
  }

  // After an element of an array or object: true if ',' (another element) follows, false
  // at the closing bracket `close`.
  bool another(char close) {
    if (consume(',')) return true;
    if (consume(close)) return false;
    fail(std::string("expected ',' or '") + close + "'");
  }

  Value value(int depth) {
    skip_space();
    if (at_end()) fail("unexpected end of the text");
    Value out;
    const char c = peek();
    if (c == '{' || c == '[') {
      if (depth >= kMaxDepth) fail("nesting deeper than " + std::to_string(kMaxDepth));
      if (c == '{') {
        object(out, depth + 1);
      } else {
        array(out, depth + 1);
      }
    } else if (c == '"') {
      out.kind_ = Value::Kind::String;
      out.string_ = string();
    } else if (c == 't') {
      expect_word("true");
      out.kind_ = Value::Kind::Boolean;
      out.boolean_ = true;
    } else if (c == 'f') {
      expect_word("false");
      out.kind_ = Value::Kind::Boolean;
    } else if (c == 'n') {
      expect_word("null");
    } else if (c == '-' || (c >= '0' && c <= '9')) {
      number(out);
    } else {
      fail(std::string("unexpected character '") + c + "'");
    }
    return out;
  }

  void object(Value &out, int depth) {
    out.kind_ = Value::Kind::Object;
    ++pos_;  // '{'
    if (consume('}')) return;
    do {
      skip_space();
      if (peek() != '"') fail("expected a string key");
      const size_t key_at = pos_;
      std::string key = string();
      if (out.find(key)) throw ParseError("the key \"" + key + "\" appears twice", key_at);
      if (!consume(':')) fail("expected ':'");
      Value member = value(depth);
      out.members_.emplace_back(std::move(key), std::move(member));
    } while (another('}'));
  }

  void array(Value &out, int depth) {
    out.kind_ = Value::Kind::Array;
    ++pos_;  // '['
    if (consume(']')) return;
    do {
      out.items_.push_back(value(depth));
    } while (another(']'));
  }

  unsigned hex4() {
    unsigned code = 0;
    for (int k = 0; k < 4; ++k, ++pos_) {
      const char c = peek();
      code <<= 4;
      if (c >= '0' && c <= '9') {
        code |= static_cast<unsigned>(c - '0');
      } else if (c >= 'a' && c <= 'f') {
        code |= static_cast<unsigned>(c - 'a' + 10);
      } else if (c >= 'A' && c <= 'F') {
        code |= static_cast<unsigned>(c - 'A' + 10);
      } else {
        fail("expected four hexadecimal digits after \\u");
      }
    }
    return code;
  }

  static void append_utf8(std::string &out, unsigned code) {
    if (code < 0x80) {
      out += static_cast<char>(code);
    } else if (code < 0x800) {
      out += static_cast<char>(0xC0 | (code >> 6));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else if (code < 0x10000) {
      out += static_cast<char>(0xE0 | (code >> 12));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    } else {
      out += static_cast<char>(0xF0 | (code >> 18));
      out += static_cast<char>(0x80 | ((code >> 12) & 0x3F));
      out += static_cast<char>(0x80 | ((code >> 6) & 0x3F));
      out += static_cast<char>(0x80 | (code & 0x3F));
    }
  }

  std::string string() {
    ++pos_;  // '"'
    std::string out;
    while (true) {
      if (at_end()) fail("unterminated string");
      const char c = text_[pos_];
      if (c == '"') {
        ++pos_;
        return out;
      }
      if (static_cast<unsigned char>(c) < 0x20) fail("control character in a string");
      if (c != '\\') {
        out += c;
        ++pos_;
        continue;
      }
      ++pos_;
      const char e = peek();
      ++pos_;
      switch (e) {
        case '"': out += '"'; break;
        case '\\': out += '\\'; break;
        case '/': out += '/'; break;
        case 'b': out += '\b'; break;
        case 'f': out += '\f'; break;
        case 'n': out += '\n'; break;
        case 'r': out += '\r'; break;
        case 't': out += '\t'; break;
        case 'u': {
          unsigned code = hex4();
          if (code >= 0xD800 && code <= 0xDBFF) {  // a high surrogate: its low one follows
            if (peek() != '\\' || pos_ + 1 >= text_.size() || text_[pos_ + 1] != 'u')
              fail("a high surrogate without its low surrogate");
            pos_ += 2;
            const unsigned low = hex4();
            if (low < 0xDC00 || low > 0xDFFF) fail("a high surrogate without its low surrogate");
            code = 0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00);
          } else if (code >= 0xDC00 && code <= 0xDFFF) {
            fail("a low surrogate without its high surrogate");
          }
          append_utf8(out, code);
          break;
        }
        default:
          --pos_;
          fail(std::string("unknown escape '\\") + e + "'");
      }
    }
  }

  void digits() {
    if (!(peek() >= '0' && peek() <= '9')) fail("expected a digit");
    while (peek() >= '0' && peek() <= '9') ++pos_;
  }

  void number(Value &out) {
    const size_t start = pos_;
    if (peek() == '-') ++pos_;
    if (peek() == '0') {
      ++pos_;
      if (peek() >= '0' && peek() <= '9') fail("a number with a leading zero");
    } else {
      digits();
    }
    bool integer = true;
    if (peek() == '.') {
      integer = false;
      ++pos_;
      digits();
    }
    if (peek() == 'e' || peek() == 'E') {
      integer = false;
      ++pos_;
      if (peek() == '+' || peek() == '-') ++pos_;
      digits();
    }
    const std::string token = text_.substr(start, pos_ - start);
    out.kind_ = Value::Kind::Number;
    out.number_ = std::strtod(token.c_str(), nullptr);
    if (!std::isfinite(out.number_)) throw ParseError("number out of range: " + token, start);
    if (integer) {
      errno = 0;
      const long long v = std::strtoll(token.c_str(), nullptr, 10);
      if (errno != ERANGE) {
        out.integer_ = true;
        out.integer_value_ = static_cast<int64_t>(v);
      } else {  // beyond int64: a rounded number, marked as such
        out.big_integer_ = true;
      }
    }
  }
};

Value parse(const std::string &text) { return Parser(text).document(); }

namespace {

void write_string(std::string &out, const std::string &s) {
  out += '"';
  for (const char c : s) {
    const auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      out += "\\r";
    } else if (c == '\t') {
      out += "\\t";
    } else if (c == '\b') {
      out += "\\b";
    } else if (c == '\f') {
      out += "\\f";
    } else if (u < 0x20) {
      char buffer[8];
      std::snprintf(buffer, sizeof buffer, "\\u%04x", u);
      out += buffer;
    } else {
      out += c;
    }
  }
  out += '"';
}

void write(std::string &out, const Value &v) {
  switch (v.kind()) {
    case Value::Kind::Null: out += "null"; break;
    case Value::Kind::Boolean: out += v.boolean() ? "true" : "false"; break;
    case Value::Kind::Number: {
      if (v.is_integer()) {
        out += std::to_string(v.integer());
      } else {
        char buffer[32];
        std::snprintf(buffer, sizeof buffer, "%.17g", v.number());
        out += buffer;
        // still a number with a fraction when written back ("1E+10" is not the integer 1)
        if (std::string(buffer).find_first_of(".e") == std::string::npos) out += ".0";
      }
      break;
    }
    case Value::Kind::String: write_string(out, v.string()); break;
    case Value::Kind::Array: {
      out += '[';
      for (size_t k = 0; k < v.items().size(); ++k) {
        if (k) out += ',';
        write(out, v.items()[k]);
      }
      out += ']';
      break;
    }
    case Value::Kind::Object: {
      std::vector<const std::pair<std::string, Value> *> sorted;
      for (const auto &member : v.members()) sorted.push_back(&member);
      std::sort(sorted.begin(), sorted.end(),
                [](const auto *a, const auto *b) { return a->first < b->first; });
      out += '{';
      for (size_t k = 0; k < sorted.size(); ++k) {
        if (k) out += ',';
        write_string(out, sorted[k]->first);
        out += ':';
        write(out, sorted[k]->second);
      }
      out += '}';
      break;
    }
  }
}

}  // namespace

std::string canonical(const Value &value) {
  std::string out;
  write(out, value);
  return out;
}

}  // namespace json
}  // namespace polmlip

#pragma once
// A small, fast JSON text writer for the hot write path (an nlohmann DOM costs
// several microseconds an event). It validates UTF-8 as it escapes: invalid text is
// refused rather than stored where no reader could parse it back.
//
// Not thread-safe; one writer per output.

#include <cstdint>
#include <string>
#include <string_view>

namespace portal {

class JsonWriter {
 public:
  explicit JsonWriter(std::string& out) : out_(out) {}
  JsonWriter(const JsonWriter&) = delete;
  JsonWriter& operator=(const JsonWriter&) = delete;

  void beginObject() { separate(); out_.push_back('{'); first_ = true; }
  void endObject() { out_.push_back('}'); first_ = false; }
  void beginArray() { separate(); out_.push_back('['); first_ = true; }
  void endArray() { out_.push_back(']'); first_ = false; }
  void key(std::string_view k) { separate(); appendString(k); out_.push_back(':'); afterKey_ = true; }
  void string(std::string_view s) { separate(); appendString(s); }
  void boolean(bool b) { separate(); out_.append(b ? "true" : "false"); }
  void null() { separate(); out_.append("null"); }
  void number(std::uint64_t n);
  void number(std::int64_t n);
  // Appends `json`, which the caller vouches is one valid JSON value (e.g. from
  // another JsonWriter), as the next value.
  void raw(std::string_view json) { separate(); out_.append(json); }

  // False once any string given was not valid UTF-8.
  bool valid() const { return valid_; }

 private:
  void separate() {
    if (afterKey_) {
      afterKey_ = false;
    } else if (!first_) {
      out_.push_back(',');
    }
    first_ = false;
  }
  void appendString(std::string_view s);

  std::string& out_;
  bool first_ = true;
  bool afterKey_ = false;
  bool valid_ = true;
};

// True when `s` is well-formed UTF-8 (no overlong forms, surrogates or code points
// past U+10FFFF).
bool isValidUtf8(std::string_view s);

}  // namespace portal

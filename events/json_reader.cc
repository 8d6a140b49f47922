#include "events/json_reader.h"

#include <charconv>

#include "events/json_writer.h"

namespace portal {

class JsonParser {
 public:
  JsonParser(std::string_view text, JsonDocument& doc) : s_(text), doc_(doc) {}

  bool parseDocument() {
    // About one node per 12 bytes of an event or a row.
    doc_.nodes_.reserve(s_.size() / 12 + 4);
    skipSpace();
    if (!value(0)) return false;
    skipSpace();
    return p_ == s_.size();
  }

 private:
  static constexpr int kMaxDepth = 64;

  void skipSpace() {
    while (p_ < s_.size() && (s_[p_] == ' ' || s_[p_] == '\n' || s_[p_] == '\r' || s_[p_] == '\t'))
      ++p_;
  }
  bool literal(std::string_view word) {
    if (s_.substr(p_, word.size()) != word) return false;
    p_ += word.size();
    return true;
  }
  JsonDocument::Ref add() {
    doc_.nodes_.emplace_back();
    return static_cast<JsonDocument::Ref>(doc_.nodes_.size() - 1);
  }

  bool value(int depth) {
    if (depth > kMaxDepth || p_ >= s_.size()) return false;
    const JsonDocument::Ref r = add();
    switch (s_[p_]) {
      case '{': return object(r, depth);
      case '[': return array(r, depth);
      case '"': {
        std::string_view text;
        if (!string(text)) return false;
        doc_.nodes_[r].kind = JsonDocument::Kind::kString;
        doc_.nodes_[r].text = text;
        return true;
      }
      case 't':
        doc_.nodes_[r].kind = JsonDocument::Kind::kBool;
        doc_.nodes_[r].boolean = true;
        return literal("true");
      case 'f':
        doc_.nodes_[r].kind = JsonDocument::Kind::kBool;
        return literal("false");
      case 'n':
        return literal("null");
      default:
        return number(r);
    }
  }

  bool number(JsonDocument::Ref r) {
    const std::size_t start = p_;
    if (p_ < s_.size() && s_[p_] == '-') ++p_;
    if (p_ >= s_.size()) return false;
    if (s_[p_] == '0') {
      ++p_;
    } else if (s_[p_] >= '1' && s_[p_] <= '9') {
      while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
    } else {
      return false;
    }
    bool integer = true;
    if (p_ < s_.size() && s_[p_] == '.') {
      integer = false;
      ++p_;
      const std::size_t digits = p_;
      while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
      if (p_ == digits) return false;
    }
    if (p_ < s_.size() && (s_[p_] == 'e' || s_[p_] == 'E')) {
      integer = false;
      ++p_;
      if (p_ < s_.size() && (s_[p_] == '+' || s_[p_] == '-')) ++p_;
      const std::size_t digits = p_;
      while (p_ < s_.size() && s_[p_] >= '0' && s_[p_] <= '9') ++p_;
      if (p_ == digits) return false;
    }
    auto& n = doc_.nodes_[r];
    n.kind = JsonDocument::Kind::kNumber;
    n.text = s_.substr(start, p_ - start);
    if (integer) {
      const char* b = n.text.data();
      const char* e = b + n.text.size();
      if (n.text[0] != '-' && std::from_chars(b, e, n.u).ec == std::errc()) {
        n.isUnsigned = true;
        n.isInteger = n.u <= static_cast<std::uint64_t>(INT64_MAX);
        n.i = static_cast<std::int64_t>(n.u);
      } else if (std::from_chars(b, e, n.i).ec == std::errc()) {
        n.isInteger = true;
      }
    }
    return true;
  }

  static int hex(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
  }
  bool hex4(std::uint32_t& out) {
    if (p_ + 4 > s_.size()) return false;
    out = 0;
    for (int k = 0; k < 4; ++k) {
      const int h = hex(s_[p_ + k]);
      if (h < 0) return false;
      out = out << 4 | static_cast<std::uint32_t>(h);
    }
    p_ += 4;
    return true;
  }
  static void appendUtf8(std::string& out, std::uint32_t cp) {
    if (cp < 0x80) {
      out.push_back(static_cast<char>(cp));
    } else if (cp < 0x800) {
      out.push_back(static_cast<char>(0xc0 | cp >> 6));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else if (cp < 0x10000) {
      out.push_back(static_cast<char>(0xe0 | cp >> 12));
      out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    } else {
      out.push_back(static_cast<char>(0xf0 | cp >> 18));
      out.push_back(static_cast<char>(0x80 | (cp >> 12 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp >> 6 & 0x3f)));
      out.push_back(static_cast<char>(0x80 | (cp & 0x3f)));
    }
  }

  // Reads a string at p_ (on its opening quote). Without escapes the view points
  // into the text; with them, into the document's storage.
  // Text that is not UTF-8 is refused (RFC 8259, section 8.1): the writer never
  // stores it, so such bytes are damage, and they would pass on into answers.
  bool string(std::string_view& out) {
    ++p_;
    const std::size_t start = p_;
    bool high = false;  // a byte past ASCII: the text must be checked
    while (p_ < s_.size()) {
      p_ += plainJsonPrefix(s_.substr(p_));
      if (p_ >= s_.size() || s_[p_] == '"' || s_[p_] == '\\') break;
      const auto b = static_cast<unsigned char>(s_[p_]);
      if (b < 0x20) return false;
      high = high || b >= 0x80;
      ++p_;
    }
    if (p_ >= s_.size()) return false;
    if (s_[p_] == '"') {
      out = s_.substr(start, p_ - start);
      ++p_;
      return !high || isValidUtf8(out);
    }
    std::string buf(s_.substr(start, p_ - start));
    while (p_ < s_.size() && s_[p_] != '"') {
      const char c = s_[p_];
      if (static_cast<unsigned char>(c) < 0x20) return false;
      if (c != '\\') {
        buf.push_back(c);
        ++p_;
        continue;
      }
      if (++p_ >= s_.size()) return false;
      const char e = s_[p_++];
      switch (e) {
        case '"': buf.push_back('"'); break;
        case '\\': buf.push_back('\\'); break;
        case '/': buf.push_back('/'); break;
        case 'b': buf.push_back('\b'); break;
        case 'f': buf.push_back('\f'); break;
        case 'n': buf.push_back('\n'); break;
        case 'r': buf.push_back('\r'); break;
        case 't': buf.push_back('\t'); break;
        case 'u': {
          std::uint32_t cp;
          if (!hex4(cp)) return false;
          if (cp >= 0xd800 && cp <= 0xdbff) {  // a surrogate pair
            std::uint32_t low;
            if (s_.substr(p_, 2) != "\\u") return false;
            p_ += 2;
            if (!hex4(low) || low < 0xdc00 || low > 0xdfff) return false;
            cp = 0x10000 + ((cp - 0xd800) << 10) + (low - 0xdc00);
          } else if (cp >= 0xdc00 && cp <= 0xdfff) {
            return false;
          }
          appendUtf8(buf, cp);
          break;
        }
        default:
          return false;
      }
    }
    if (p_ >= s_.size()) return false;
    ++p_;
    if (!isValidUtf8(buf)) return false;
    doc_.unescaped_.push_front(std::move(buf));
    out = doc_.unescaped_.front();
    return true;
  }

  // Links the children of container `r` as they are parsed.
  template <class F>
  bool container(JsonDocument::Ref r, JsonDocument::Kind kind, char close, F&& element) {
    doc_.nodes_[r].kind = kind;
    ++p_;
    skipSpace();
    if (p_ < s_.size() && s_[p_] == close) {
      ++p_;
      return true;
    }
    JsonDocument::Ref last = 0;
    while (true) {
      skipSpace();
      const JsonDocument::Ref child = static_cast<JsonDocument::Ref>(doc_.nodes_.size());
      if (!element()) return false;
      if (last == 0) doc_.nodes_[r].firstChild = child;
      else doc_.nodes_[last].next = child;
      last = child;
      ++doc_.nodes_[r].count;
      skipSpace();
      if (p_ >= s_.size()) return false;
      if (s_[p_] == ',') {
        ++p_;
        continue;
      }
      if (s_[p_] != close) return false;
      ++p_;
      return true;
    }
  }

  bool array(JsonDocument::Ref r, int depth) {
    return container(r, JsonDocument::Kind::kArray, ']', [&] { return value(depth + 1); });
  }

  bool object(JsonDocument::Ref r, int depth) {
    return container(r, JsonDocument::Kind::kObject, '}', [&] {
      if (p_ >= s_.size() || s_[p_] != '"') return false;
      std::string_view key;
      if (!string(key)) return false;
      skipSpace();
      if (p_ >= s_.size() || s_[p_] != ':') return false;
      ++p_;
      skipSpace();
      const JsonDocument::Ref child = static_cast<JsonDocument::Ref>(doc_.nodes_.size());
      if (!value(depth + 1)) return false;
      doc_.nodes_[child].key = key;
      return true;
    });
  }

  std::string_view s_;
  std::size_t p_ = 0;
  JsonDocument& doc_;
};

std::optional<JsonDocument> JsonDocument::parse(std::string_view text) {
  JsonDocument doc;
  JsonParser parser(text, doc);
  if (!parser.parseDocument()) return std::nullopt;
  return doc;
}

std::optional<JsonDocument::Ref> JsonDocument::member(Ref r, std::string_view name) const {
  const Node& n = nodes_[r];
  if (n.kind != Kind::kObject) return std::nullopt;
  for (Ref c = n.firstChild, k = 0; k < n.count; c = nodes_[c].next, ++k)
    if (nodes_[c].key == name) return c;
  return std::nullopt;
}

std::vector<JsonDocument::Ref> JsonDocument::children(Ref r) const {
  std::vector<Ref> out;
  const Node& n = nodes_[r];
  out.reserve(n.count);
  for (Ref c = n.firstChild, k = 0; k < n.count; c = nodes_[c].next, ++k) out.push_back(c);
  return out;
}

}  // namespace portal

#include "src/auth/password_policy.h"

#include <array>
#include <fstream>
#include <initializer_list>
#include <set>
#include <string>
#include <utility>
#include <vector>

#include "events/json_writer.h"
#include "events/text.h"

namespace portal {
namespace {

// The words of folded text: its runs of letters, of `least` or more ("o.owner"
// gives "owner" with 2: a single letter is in too many words to stand for anyone).
std::vector<std::string> letterWords(std::string_view folded, std::size_t least = 2) {
  std::vector<std::string> out;
  std::string word;
  char32_t c;
  auto end = [&] {
    if (!word.empty() && codePoints(word) >= least) out.push_back(word);
    word.clear();
  };
  for (std::size_t i = 0; i < folded.size();) {
    std::size_t n = 1;
    if (static_cast<unsigned char>(folded[i]) < 0x80)
      c = static_cast<unsigned char>(folded[i]);
    else if ((n = decodeUtf8(folded.substr(i), c)) == 0)
      break;  // not UTF-8: checked before
    if (isLetter(c))
      word.append(folded.substr(i, n));
    else
      end();
    i += n;
  }
  end();
  return out;
}

// The letters of folded text, of any script, in order ("Acme Inc 2024" -> "acmeinc").
std::string lettersOf(std::string_view folded) {
  std::string out;
  for (const std::string& word : letterWords(folded, 1)) out += word;
  return out;
}

// Whether `letters` is made of `pieces` alone, one after another, any of them any
// number of times ("oliviaowner" of "olivia" and "owner"); false when empty.
template <class Pieces>
bool madeOf(std::string_view letters, const Pieces& pieces) {
  if (letters.empty()) return false;
  std::vector<bool> reached(letters.size() + 1, false);
  reached[0] = true;
  for (std::size_t i = 0; i < letters.size(); ++i)
    if (reached[i])
      for (const std::string& piece : pieces)
        if (!piece.empty() && letters.compare(i, piece.size(), piece) == 0)
          reached[i + piece.size()] = true;
  return static_cast<bool>(reached.back());
}

// What of a password is its own: its letters and digits but its words made of the
// words of `context` alone (a name inside a longer word is that word's: "Ann" in
// "annual"; "OliviaOwner" is two names) and every `address` as typed.
struct OwnPart {
  std::size_t left = 0;  // letters and digits, in code points
  bool cut = false;      // whether any word or address was taken out
};
OwnPart ownPart(std::string_view bare, const std::set<std::string>& context,
                std::string_view address) {
  OwnPart out;
  std::string text(bare);
  if (!address.empty())
    for (auto at = text.find(address); at != std::string::npos; at = text.find(address, at)) {
      text.replace(at, address.size(), " ");
      out.cut = true;
    }
  for (const std::string& word : letterWords(text, 1)) {
    if (madeOf(word, context))
      out.cut = true;
    else
      out.left += codePoints(word);
  }
  for (const char d : text) out.left += d >= '0' && d <= '9' ? 1 : 0;
  return out;
}

bool isAsciiAlnum(char c) {
  return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

// The password without the digits, symbols, spaces and emoji at its ends, of any
// script ("!!pass99" -> "pass", "password€€€€" -> "password"): letters stay.
std::string_view core(std::string_view s) {
  return trimCodePoints(s, [](char32_t c) { return !isLetter(c); });
}

// Letters typed as the digits and symbols that look like them ("p@ssw0rd",
// "pa55word"): folded back, a 1 as `one` (an i or an l).
std::string unleet(std::string_view s, char one) {
  std::string out(s);
  for (char& c : out) {
    switch (c) {
      case '@':
      case '4':
        c = 'a';
        break;
      case '0':
        c = 'o';
        break;
      case '$':
      case '5':
        c = 's';
        break;
      case '3':
        c = 'e';
        break;
      case '7':
        c = 't';
        break;
      case '1':
      case '!':
        c = one;
        break;
      default:
        break;
    }
  }
  return out;
}

// One character or a short unit repeated (of any script: "ññññ", an emoji), or each
// ASCII letter or digit one after the other (either way, digits wrapping from 9 to 0).
bool isRunOrRepeat(std::string_view s) {
  if (s.size() < 2) return true;
  // The shortest unit the password repeats (the prefix function's period): one
  // character of any length in bytes, an emoji with its skin tone or its joined
  // parts, a flag, or a few letters ("abcabcabcabc"), three times or more.
  std::vector<std::size_t> border(s.size(), 0);
  for (std::size_t i = 1, k = 0; i < s.size(); ++i) {
    while (k > 0 && s[i] != s[k]) k = border[k - 1];
    if (s[i] == s[k]) ++k;
    border[i] = k;
  }
  const std::size_t unit = s.size() - border.back();
  if (s.size() % unit == 0 && s.size() / unit >= 3) return true;
  for (int step : {1, -1}) {
    bool run = true;
    for (std::size_t i = 1; i < s.size() && run; ++i) {
      const char a = s[i - 1], b = s[i];
      if (!isAsciiAlnum(a) || !isAsciiAlnum(b)) run = false;
      else if (a >= '0' && a <= '9') run = b >= '0' && b <= '9' && (a - '0' + step + 10) % 10 == b - '0';
      else run = b == a + step;
    }
    if (run) return true;
  }
  return false;
}

// A run or a repeat (isRunOrRepeat) of at least 9 characters with at most three
// characters added at its ends ("aaaaaaaaaaaa!", "1111111111111a", "123456789012!",
// "xyzxyzxyzxyz7"): what is added to pass a rule changes little for a guesser.
bool isRunOrRepeatWithSomethingAdded(std::string_view s) {
  constexpr std::size_t kAdded = 3, kLeast = 9;
  std::vector<std::size_t> at;  // the byte offset of each code point, then the end
  char32_t c;
  for (std::size_t i = 0; i < s.size();) {
    at.push_back(i);
    const std::size_t n = static_cast<unsigned char>(s[i]) < 0x80 ? 1 : decodeUtf8(s.substr(i), c);
    if (n == 0) return false;  // not UTF-8: checked before
    i += n;
  }
  at.push_back(s.size());
  const std::size_t count = at.size() - 1;
  for (std::size_t front = 0; front <= kAdded; ++front)
    for (std::size_t back = 0; front + back <= kAdded; ++back)
      if (front + back > 0 && count >= front + back + kLeast &&
          isRunOrRepeat(s.substr(at[front], at[count - back] - at[front])))
        return true;
  return false;
}

// Where a key sits on a keyboard: its row, and its left edge in quarters of a key
// (rows are staggered: Q is half a key right of 1, A a quarter right of Q).
struct KeyAt {
  int row = -1;  // -1: no key of this keyboard
  int x = 0;
};

class Keyboard {
 public:
  // `usShift`: a shifted symbol is its key as a US keyboard has it ("!" is 1).
  // `diagonals`: keys in a grid (the keypad), where 1 touches 5.
  Keyboard(std::initializer_list<std::pair<std::string_view, int>> rows, bool usShift,
           bool diagonals)
      : usShift_(usShift), diagonals_(diagonals) {
    int row = 0;
    for (const auto& [keys, left] : rows) {
      for (std::size_t i = 0; i < keys.size(); ++i)
        at_[static_cast<unsigned char>(keys[i])] = {row, left + 4 * static_cast<int>(i)};
      ++row;
    }
  }

  // The step from one key to the next when they touch (beside each other in a row,
  // or overlapping in the row above or below), as one of eight directions; 0 when
  // they do not. Letters come folded already.
  int step(char from, char to) const {
    const KeyAt a = key(from), b = key(to);
    if (a.row < 0 || b.row < 0) return 0;
    const int rows = b.row - a.row, dx = b.x - a.x;
    const int reach = diagonals_ ? 4 : 3;
    if (rows == 0 && (dx == 4 || dx == -4)) return dx > 0 ? 1 : 2;
    if ((rows == 1 || rows == -1) && dx >= -reach && dx <= reach)
      return (rows > 0 ? 3 : 6) + (dx > 0) + (dx >= 0);
    return 0;
  }

 private:
  KeyAt key(char c) const {
    static constexpr std::string_view kShifted = "~!@#$%^&*()_+{}|:\"<>?";
    static constexpr std::string_view kUnshifted = "`1234567890-=[]\\;',./";
    if (const auto i = kShifted.find(c); usShift_ && i != std::string_view::npos) c = kUnshifted[i];
    return static_cast<unsigned char>(c) < 0x80 ? at_[static_cast<unsigned char>(c)] : KeyAt{};
  }

  std::array<KeyAt, 128> at_{};
  bool usShift_, diagonals_;
};

// How many keys, from s[begin], go one way along the keyboard: straight (every step
// the same way: "qwer", "1qaz") or zigzag (two ways in turn: "1q2w3e"). At least 1.
std::size_t strokeAt(const Keyboard& keyboard, std::string_view s, std::size_t begin,
                     bool& zigzag) {
  zigzag = false;
  std::size_t end = begin + 1;
  int first = 0, second = 0;
  for (; end < s.size(); ++end) {
    const int step = keyboard.step(s[end - 1], s[end]);
    if (step == 0) break;
    const std::size_t n = end - begin;  // this step's number, from 1
    if (n == 1) {
      first = step;
    } else if (n == 2) {
      second = step;
      zigzag = second != first;
    } else if (step != ((n % 2 == 1) ? first : second)) {
      break;
    }
  }
  return end - begin;
}

// The keyboards walks are looked for on.
const std::array<Keyboard, 4>& keyboards() {
  static const std::array<Keyboard, 4> kKeyboards = {
      Keyboard({{"`1234567890-=", 0}, {"qwertyuiop[]\\", 6}, {"asdfghjkl;'", 7}, {"zxcvbnm,./", 9}},
               true, false),
      Keyboard({{"1234567890", 4}, {"qwertzuiop", 6}, {"asdfghjkl", 7}, {"yxcvbnm,.-", 9}}, false,
               false),
      Keyboard({{"1234567890", 4}, {"azertyuiop", 6}, {"qsdfghjklm", 7}, {"wxcvbn,;:!", 9}}, false,
               false),
      // 0 under 1 and 2.
      Keyboard({{"789", 0}, {"456", 0}, {"123", 0}, {"0", 2}}, false, true)};
  return kKeyboards;
}

// A walk along a keyboard ("1qaz2wsx3edc", "qwertyuiop12", "zaq12wsxcde3",
// "!QAZ@WSX#EDC", "1q2w3e4r5t6y", "qwertzuiop" on a German one, "azertyuiop" on a
// French one, "159357" on the keypad): strokes that go one way, straight for three
// keys or more or zigzag for five, covering all but three characters at most. Text
// touches neighbouring keys here and there ("sewer rewards": "wer" and "rew"), and
// a random password now and then for a key or two; strokes that keep going one way
// are what a guesser tries first.
bool isKeyboardWalk(std::string_view s) {
  constexpr std::size_t kStraight = 3, kZigzag = 5, kAdded = 3, kLeast = 8;
  for (const Keyboard& keyboard : keyboards()) {
    std::size_t covered = 0;
    // Until more than kAdded characters are left out.
    for (std::size_t begin = 0; begin < s.size() && begin <= covered + kAdded;) {
      bool zigzag = false;
      const std::size_t keys = strokeAt(keyboard, s, begin, zigzag);
      if (keys >= (zigzag ? kZigzag : kStraight)) {
        covered += keys;
        begin += keys;
      } else {
        ++begin;  // a stroke may begin at the next key
      }
    }
    if (covered >= kLeast && covered + kAdded >= s.size()) return true;
  }
  return false;
}

// Two simple sequences typed in turn, a character of each at a time: runs
// ("a1b2c3d4e5f6"), a row and the number row ("q1w2e3r4t5y6", "a1s2d3f4g5h6"), two
// rows ("qawsedrftgyh"), with up to three characters added at the ends. Each half is
// a run or a repeat, or one straight stroke along a keyboard, of four or more.
bool isInterleaved(std::string_view s) {
  constexpr std::size_t kAdded = 3, kLeast = 8;
  auto simple = [](const std::string& half) {
    if (half.size() < kLeast / 2) return false;
    if (isRunOrRepeat(half)) return true;
    for (const Keyboard& keyboard : keyboards()) {
      bool zigzag = false;
      if (strokeAt(keyboard, half, 0, zigzag) == half.size() && !zigzag) return true;
    }
    return false;
  };
  for (std::size_t front = 0; front <= kAdded; ++front)
    for (std::size_t back = 0; front + back <= kAdded; ++back) {
      if (s.size() < front + back + kLeast) continue;
      const std::string_view core = s.substr(front, s.size() - front - back);
      std::string even, odd;
      for (std::size_t i = 0; i < core.size(); ++i) (i % 2 == 0 ? even : odd).push_back(core[i]);
      if (simple(even) && simple(odd)) return true;
    }
  return false;
}

}  // namespace

Result<PasswordPolicy> PasswordPolicy::load(const std::string& file) {
  std::ifstream in(file);
  if (!in)
    return makeError(ErrorCode::kNotFound,
                     "cannot read the common-password list " + file + " (install john-data)");
  std::vector<std::string> words;
  std::string line;
  while (std::getline(in, line)) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.empty() || line.rfind("#!comment:", 0) == 0) continue;
    words.push_back(line);
  }
  if (words.empty()) return makeError(ErrorCode::kCorrupt, file + " lists no passwords");
  return PasswordPolicy(std::move(words));
}

PasswordPolicy::PasswordPolicy(std::vector<std::string> commonPasswords) {
  for (auto& w : commonPasswords) w = asciiLower(w);
  common_.insert(commonPasswords.begin(), commonPasswords.end());
  listed_ = common_.size();  // the list's own words, told in the rules
  for (const auto& w : commonPasswords) {
    common_.insert(unleet(w, 'i'));
    common_.insert(unleet(w, 'l'));
  }
}

bool PasswordPolicy::isCommon(std::string_view lowered) const {
  const auto listed = [&](std::string_view word) {
    if (common_.count(std::string(word))) return true;
    // Without digits or symbols added at its ends ("Password2024!"), and with its
    // letters typed as look-alikes or not ("P@ssw0rd2024": a review got it taken).
    for (const std::string_view form : {word, core(word)}) {
      if (form.size() < 4) continue;
      if (common_.count(std::string(form)) || common_.count(unleet(form, 'i')) ||
          common_.count(unleet(form, 'l')))
        return true;
    }
    return false;
  };
  // Listed, typed twice ("letmeinletmein", "Passw0rd!Passw0rd!"), or a run or a
  // repeat.
  const auto weak = [&](std::string_view s) {
    if (listed(s)) return true;
    const std::size_t half = s.size() / 2;
    if (s.size() % 2 == 0 && s.substr(0, half) == s.substr(half) && listed(s.substr(0, half)))
      return true;
    return isRunOrRepeat(s) || isRunOrRepeatWithSomethingAdded(s);
  };
  if (weak(lowered)) return true;
  // The same with the spaces and ASCII punctuation typed between its words taken out:
  // "password-password", "monkey monkey monkey", "dragon.dragon.dragon", "p a s s w o
  // r d 1 2" (a review got them all taken). What is left of a password of symbols
  // and a letter or two ("!@#$%^&*()ab") is too little to judge: it is judged as typed.
  // Spaces alone are taken out first: punctuation may be a look-alike letter ("P@ssw0rd
  // P@ssw0rd"), which taking it out would hide.
  std::string spaced(lowered), compact;
  std::erase(spaced, ' ');
  if (spaced.size() != lowered.size() && weak(spaced)) return true;
  // A walk along the keyboard, or two simple sequences typed in turn, as typed or
  // without its spaces; not without its punctuation, which leaves letters of a random
  // password that may touch.
  auto walked = [](std::string_view s) { return isKeyboardWalk(s) || isInterleaved(s); };
  if (walked(lowered) || (spaced.size() != lowered.size() && walked(spaced))) return true;
  for (const char c : lowered)
    if (static_cast<unsigned char>(c) >= 0x80 || isAsciiAlnum(c)) compact.push_back(c);
  constexpr std::size_t kLeastJudged = 4;
  return compact.size() != spaced.size() && compact.size() >= kLeastJudged && weak(compact);
}

std::vector<PolicyProblem> PasswordPolicy::check(std::string_view password, std::string_view email,
                                                 const std::vector<std::string>& names) const {
  std::vector<PolicyProblem> problems;
  if (!isValidUtf8(password)) {
    problems.push_back({"not-utf8", "The password must be valid UTF-8 text."});
    return problems;
  }
  const std::size_t length = codePoints(password);
  if (length < kMinLength)
    problems.push_back({"min-length", "The password must have at least " +
                                          std::to_string(kMinLength) + " characters."});
  if (length > kMaxLength) {
    problems.push_back({"max-length", "The password must have at most " +
                                          std::to_string(kMaxLength) + " characters."});
    return problems;  // refused: nothing more is worth the work on up to 1 MiB of it
  }
  // Folded as names are (NFKC_Casefold): "PASSWORD", "Ｐａｓｓｗｏｒｄ" and "password"
  // are one word to a guesser.
  const std::string lowered = foldCase(password);
  const std::string mail = foldCase(email);
  const std::string local = mail.substr(0, mail.find('@'));
  // The address or its local part as it is (a local part of digits alone: "123456"),
  // and the address's letters, or the first of them up to the local part's at least,
  // whatever is around or between them, digits too: "jsmith2" refuses "jsmith2",
  // "jsmith" and "jsmith2024!", "jsmith2@acme.example" refuses "jsmith2@acme.example1",
  // alice@demo.example refuses "alicedemoexample", "alice.demo.ex" and "Alice Demo
  // Example 2024", bob1984@demo.example "bobdemoexample1984"; the domain alone is no
  // email.
  // (Their letters with accents and combining marks set aside, as search has them:
  // "owner@demo.example" with a combining accent after it is the address.)
  const std::string bare = searchFold(password);
  const std::string mailLetters = lettersOf(searchFold(mail)),
                    localLetters = lettersOf(searchFold(local));
  const std::string passwordLetters = lettersOf(bare);
  const bool spellsTheAddress = !localLetters.empty() &&
                                passwordLetters.size() >= localLetters.size() &&
                                mailLetters.starts_with(passwordLetters);
  // Among other words, they count for nothing: what is left without the address as
  // typed and the local part's words must be a password's worth of its own
  // ("my owner@demo.example pass" leaves "mypass": a review had it taken).
  const std::string foldedMail = searchFold(mail);
  std::set<std::string> context;
  for (std::string& w : letterWords(searchFold(local))) context.insert(std::move(w));
  constexpr std::size_t kLeastOwn = 8;
  const OwnPart ownOfMail = ownPart(bare, context, foldedMail);
  const bool mailInside = ownOfMail.cut && ownOfMail.left < kLeastOwn;
  if (!mail.empty() &&
      (lowered == mail || (!local.empty() && lowered == local) || spellsTheAddress || mailInside))
    problems.push_back({"not-email", "The password must not be your email address."});
  // The person's names and the company's, alone or joined in any order and number
  // (one typed twice, the whole name twice), whatever is around or between them,
  // accents set aside and letters typed as look-alikes or not ("Olivia Owner",
  // "BobBoss12345", "Acme Inc 2024", "OliviaOlivia!!", "Olivia Owner Olivia Owner",
  // "0l1v1a0wn3r!!": a review had the last two taken).
  if (!names.empty()) {
    std::vector<std::string> folded;
    for (const auto& n : names)
      if (std::string letters = lettersOf(searchFold(n)); !letters.empty())
        folded.push_back(std::move(letters));
    // Whether `letters` is made of the names alone, one after another.
    auto spelledByNames = [&](const std::string& letters) { return madeOf(letters, folded); };
    // Look-alikes read as letters in the password as typed, and with what is around
    // it taken off: symbols at both ends (not digits: a 0 may be an o, "0l1v1a0wn3r!!"),
    // or digits and symbols at one end ("0wn3r 0l1v1a 2024", "2024 0l1v1a").
    const std::string_view inner =
        trimCodePoints(bare, [](char32_t c) { return !isLetter(c) && !(c >= '0' && c <= '9'); });
    const std::string_view letters = core(bare);
    const std::size_t from = static_cast<std::size_t>(letters.data() - bare.data());
    const std::string_view forms[] = {bare, inner,
                                      std::string_view(bare).substr(0, from + letters.size()),
                                      std::string_view(bare).substr(from)};
    bool personal = spelledByNames(passwordLetters);
    // Among other words too, as the address above ("Bob Test is great" leaves
    // "isgreat"); said once, when the address alone has not been.
    for (const auto& n : names)
      for (std::string& w : letterWords(searchFold(n))) context.insert(std::move(w));
    const OwnPart ownOfNames = ownPart(bare, context, foldedMail);
    personal = personal || (!mailInside && ownOfNames.cut && ownOfNames.left < kLeastOwn);
    for (const std::string_view form : forms)
      for (const char one : {'i', 'l'})
        personal = personal || spelledByNames(lettersOf(unleet(form, one)));
    if (personal)
      problems.push_back(
          {"not-name", "The password must not be your name or your company's name."});
  }
  if (isCommon(lowered))
    problems.push_back({"not-common", "The password is too common or too easy to guess."});
  return problems;
}

std::vector<std::string> PasswordPolicy::rules() const {
  return {"At least " + std::to_string(kMinLength) + " characters, at most " +
              std::to_string(kMaxLength) + ".",
          "Any characters are allowed: spaces, punctuation, letters of any language, emoji.",
          "Not your email address, nor your name or your company's name; with other words "
          "around them, those words must make 8 letters or digits of their own.",
          "Not the temporary password you were sent, in any spelling, nor your current "
          "password.",
          "Not a common password (" + std::to_string(listed_) +
              " are known), nor one with digits or symbols added, nor one typed twice, nor "
              "one character or a few repeated, nor a run such as 123456789012 or abcdefghijkl, "
              "nor a walk along the keyboard such as 1qaz2wsx3edc, qwertyuiop12 or q1w2e3r4t5y6, "
              "also with a few characters added."};
}

}  // namespace portal

#pragma once
// The field list of an event (or of a struct nested in one) is declared once with
// PORTAL_FIELDS(name, ...): the codec, the tests and the replay tool all walk the
// fields through the generated visit(), so adding a field is a one-line change.
//
//   struct GroupRenamed {
//     std::string groupId;
//     std::string name;
//     PORTAL_FIELDS(GroupRenamed, groupId, name)
//   };
//
// visit(v) calls v("groupId", groupId), v("name", name) in declaration order. The
// JSON key of a field is its member name.

#define PORTAL_FIELDS_EXPAND(x) x
#define PORTAL_FIELDS_VISIT1(f) v(#f, self.f);
#define PORTAL_FIELDS_GET(_1, _2, _3, _4, _5, _6, _7, _8, _9, _10, _11, _12, _13, _14, _15, \
                          _16, NAME, ...)                                                 \
  NAME
#define PORTAL_FIELDS_F1(f) PORTAL_FIELDS_VISIT1(f)
#define PORTAL_FIELDS_F2(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F1(__VA_ARGS__))
#define PORTAL_FIELDS_F3(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F2(__VA_ARGS__))
#define PORTAL_FIELDS_F4(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F3(__VA_ARGS__))
#define PORTAL_FIELDS_F5(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F4(__VA_ARGS__))
#define PORTAL_FIELDS_F6(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F5(__VA_ARGS__))
#define PORTAL_FIELDS_F7(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F6(__VA_ARGS__))
#define PORTAL_FIELDS_F8(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F7(__VA_ARGS__))
#define PORTAL_FIELDS_F9(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F8(__VA_ARGS__))
#define PORTAL_FIELDS_F10(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F9(__VA_ARGS__))
#define PORTAL_FIELDS_F11(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F10(__VA_ARGS__))
#define PORTAL_FIELDS_F12(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F11(__VA_ARGS__))
#define PORTAL_FIELDS_F13(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F12(__VA_ARGS__))
#define PORTAL_FIELDS_F14(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F13(__VA_ARGS__))
#define PORTAL_FIELDS_F15(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F14(__VA_ARGS__))
#define PORTAL_FIELDS_F16(f, ...) PORTAL_FIELDS_VISIT1(f) PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_F15(__VA_ARGS__))
#define PORTAL_FIELDS_ALL(...)                                                              \
  PORTAL_FIELDS_EXPAND(PORTAL_FIELDS_GET(                                                   \
      __VA_ARGS__, PORTAL_FIELDS_F16, PORTAL_FIELDS_F15, PORTAL_FIELDS_F14, PORTAL_FIELDS_F13, \
      PORTAL_FIELDS_F12, PORTAL_FIELDS_F11, PORTAL_FIELDS_F10, PORTAL_FIELDS_F9,             \
      PORTAL_FIELDS_F8, PORTAL_FIELDS_F7, PORTAL_FIELDS_F6, PORTAL_FIELDS_F5,                \
      PORTAL_FIELDS_F4, PORTAL_FIELDS_F3, PORTAL_FIELDS_F2, PORTAL_FIELDS_F1)(__VA_ARGS__))

#define PORTAL_FIELDS(Type, ...)                                        \
  template <class Self, class V>                                        \
  static void visitFields(Self& self, V& v) {                           \
    PORTAL_FIELDS_ALL(__VA_ARGS__)                                      \
  }                                                                     \
  template <class V>                                                    \
  void visit(V& v) {                                                    \
    visitFields(*this, v);                                              \
  }                                                                     \
  template <class V>                                                    \
  void visit(V& v) const {                                              \
    visitFields(*this, v);                                              \
  }                                                                     \
  bool operator==(const Type&) const = default;

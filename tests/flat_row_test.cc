// FlatRow: the users' and accounts' rows read and written without a DOM. A row it
// writes must be the bytes an nlohmann dump of the same object gives (rows written
// before it, or by the other path, read back the same), and anything that is not a
// flat object is refused rather than half read.

#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "projections/flat_row.h"

namespace portal {
namespace {

TEST(FlatRow, WritesTheBytesAnNlohmannDumpOfTheSameRowGives) {
  FlatRow row;
  // Set out of order, and one member twice: the row keeps names in byte order.
  row.setString("surname", "Ng \"the\" \\ second\n\x01");
  row.setNumber("version", 12);
  row.setBoolean("active", false);
  row.setNull("managerEmail");
  row.setString("givenName", "Zoë 山田");
  row.setBoolean("active", true);
  row.setString("Email", "upper case sorts first");
  const nlohmann::json expected = {{"surname", "Ng \"the\" \\ second\n\x01"},
                                   {"version", 12},
                                   {"active", true},
                                   {"managerEmail", nullptr},
                                   {"givenName", "Zoë 山田"},
                                   {"Email", "upper case sorts first"}};
  ASSERT_TRUE(row.dump());
  EXPECT_EQ(*row.dump(), expected.dump());

  auto back = FlatRow::parse(expected.dump());
  ASSERT_TRUE(back);
  EXPECT_EQ(*back->dump(), expected.dump());
  EXPECT_EQ(back->text("givenName"), "Zoë 山田");
  EXPECT_EQ(back->number("version", 0), 12u);
  EXPECT_TRUE(back->boolean("active", false));
  EXPECT_EQ(back->string("managerEmail"), nullptr);  // null is no string
  EXPECT_EQ(back->text("absent"), "");
  EXPECT_EQ(back->number("absent", 7), 7u);
  EXPECT_FALSE(back->boolean("surname", false));  // a string is no boolean
}

TEST(FlatRow, RefusesWhatIsNotAFlatObjectAndTextThatIsNotUtf8) {
  for (const char* text : {"", "null", "[]", "\"row\"", "{\"a\":[1]}", "{\"a\":{\"b\":1}}",
                           "{\"version\":-1}", "{\"a\":1.5}", "{\"a\":1", "{\"a\":1} x"})
    EXPECT_FALSE(FlatRow::parse(text)) << text;
  EXPECT_TRUE(FlatRow::parse("{}"));

  FlatRow row;
  row.setString("email", std::string("broken \xff utf-8"));
  EXPECT_FALSE(row.dump());
}

}  // namespace
}  // namespace portal

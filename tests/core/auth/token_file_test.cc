#include "core/auth/token_file.h"

#include "absl/strings/match.h"
#include "core/util/sha256.h"
#include "gtest/gtest.h"

namespace pruneserve::auth {
namespace {

const std::string kHashA = Sha256Hex("token-a");
const std::string kHashB = Sha256Hex("token-b");

TEST(TokenFileTest, ParsesRecordsCommentsAndBlankLines) {
  auto records = ParseTokenFile("# tokens\n\n" + kHashA + " admin alice\n  " +
                                kHashB + "\tread   bob@ci  \n");
  ASSERT_TRUE(records.ok()) << records.status();
  ASSERT_EQ(records->size(), 2u);
  EXPECT_EQ((*records)[0].sha256_hex, kHashA);
  EXPECT_EQ((*records)[0].role, Role::kAdmin);
  EXPECT_EQ((*records)[0].name, "alice");
  EXPECT_EQ((*records)[1].role, Role::kRead);
  EXPECT_EQ((*records)[1].name, "bob@ci");
}

TEST(TokenFileTest, UpperCaseHashIsNormalised) {
  std::string upper = kHashA;
  for (char& c : upper) c = static_cast<char>(std::toupper(c));
  auto records = ParseTokenFile(upper + " infer x\n");
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ((*records)[0].sha256_hex, kHashA);
}

TEST(TokenFileTest, ErrorsNameTheLineAndNeverEchoTheHash) {
  struct Case {
    std::string text;
    std::string expected;
  } cases[] = {
      {"\n" + kHashA + " admin\n", "line 2: expected"},
      {"abc admin alice\n", "line 1: the first field is not"},
      {kHashA + " root alice\n", "unknown role \"root\""},
      {kHashA + " read al/ice\n", "the name must be"},
      {kHashA + " read a\n" + kHashA + " read b\n", "line 2: the same token"},
      {kHashA + " read a\n" + kHashB + " admin a\n", "\"a\" appears twice"},
  };
  for (const Case& c : cases) {
    auto records = ParseTokenFile(c.text);
    ASSERT_FALSE(records.ok()) << c.text;
    EXPECT_EQ(records.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_TRUE(absl::StrContains(records.status().message(), c.expected))
        << records.status();
    EXPECT_FALSE(absl::StrContains(records.status().message(), kHashA));
  }
}

TEST(TokenFileTest, RolesAdminImpliesTheOthersOnly) {
  EXPECT_TRUE(RoleGrants(Role::kAdmin, Role::kInfer));
  EXPECT_TRUE(RoleGrants(Role::kAdmin, Role::kRead));
  EXPECT_TRUE(RoleGrants(Role::kAdmin, Role::kAdmin));
  EXPECT_TRUE(RoleGrants(Role::kRead, Role::kRead));
  EXPECT_FALSE(RoleGrants(Role::kRead, Role::kInfer));
  EXPECT_FALSE(RoleGrants(Role::kRead, Role::kAdmin));
  EXPECT_FALSE(RoleGrants(Role::kInfer, Role::kRead));
  EXPECT_FALSE(RoleGrants(Role::kInfer, Role::kAdmin));
  for (Role r : {Role::kInfer, Role::kRead, Role::kAdmin}) {
    EXPECT_EQ(ParseRole(RoleName(r)), r);
  }
  EXPECT_FALSE(ParseRole("Admin").has_value());
}

TEST(TokenFileTest, GeneratedTokensAreFreshAndTheirLineParses) {
  auto a = GenerateToken();
  auto b = GenerateToken();
  ASSERT_TRUE(a.ok() && b.ok());
  EXPECT_NE(*a, *b);
  EXPECT_EQ(a->size(), 4u + 64u);
  EXPECT_TRUE(absl::StartsWith(*a, "pst_"));
  const std::string line = TokenFileLine(*a, Role::kRead, "ci");
  EXPECT_EQ(line, Sha256Hex(*a) + " read ci");
  auto records = ParseTokenFile(line);
  ASSERT_TRUE(records.ok()) << records.status();
  EXPECT_EQ((*records)[0].name, "ci");
}

}  // namespace
}  // namespace pruneserve::auth

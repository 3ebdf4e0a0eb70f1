#include "core/auth/token_store.h"

#include <fstream>

#include "core/util/sha256.h"
#include "gtest/gtest.h"
#include "tests/testing/temp_dir.h"

namespace pruneserve::auth {
namespace {

void Write(const std::string& path, const std::string& text) {
  std::ofstream(path, std::ios::trunc) << text;
}

TEST(TokenStoreTest, AuthenticatesByHashOnly) {
  testing::TempDir dir;
  const std::string path = dir.Join("tokens");
  Write(path, TokenFileLine("secret-1", Role::kAdmin, "alice") + "\n" +
                  TokenFileLine("secret-2", Role::kInfer, "edge") + "\n");
  auto store = TokenStore::Create({path});
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_EQ((*store)->size(), 2u);
  auto alice = (*store)->Authenticate("secret-1");
  ASSERT_TRUE(alice.has_value());
  EXPECT_EQ(alice->name, "alice");
  EXPECT_EQ(alice->role, Role::kAdmin);
  EXPECT_EQ((*store)->Authenticate("secret-2")->role, Role::kInfer);
  EXPECT_FALSE((*store)->Authenticate("secret-3").has_value());
  EXPECT_FALSE((*store)->Authenticate("").has_value());
  // The hash itself is not a token.
  EXPECT_FALSE((*store)->Authenticate(Sha256Hex("secret-1")).has_value());
}

TEST(TokenStoreTest, ReloadSwapsTokensAndKeepsOldOnError) {
  testing::TempDir dir;
  const std::string path = dir.Join("tokens");
  Write(path, TokenFileLine("old", Role::kRead, "bob") + "\n");
  auto store = TokenStore::Create({path});
  ASSERT_TRUE(store.ok()) << store.status();
  Write(path, TokenFileLine("new", Role::kAdmin, "bob") + "\n");
  ASSERT_TRUE((*store)->Reload().ok());
  EXPECT_FALSE((*store)->Authenticate("old").has_value());
  EXPECT_EQ((*store)->Authenticate("new")->role, Role::kAdmin);

  Write(path, "garbage\n");
  absl::Status bad = (*store)->Reload();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE((*store)->Authenticate("new").has_value());
}

TEST(TokenStoreTest, MissingOrEmptyFileIsRefused) {
  testing::TempDir dir;
  EXPECT_EQ(TokenStore::Create({dir.Join("nope")}).status().code(),
            absl::StatusCode::kNotFound);
  Write(dir.Join("empty"), "# nothing\n");
  EXPECT_EQ(TokenStore::Create({dir.Join("empty")}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(TokenStoreTest, BearerHeader) {
  EXPECT_EQ(BearerToken("Bearer abc"), "abc");
  EXPECT_EQ(BearerToken("bearer   abc "), "abc");
  EXPECT_FALSE(BearerToken("Basic abc").has_value());
  EXPECT_FALSE(BearerToken("Bearer ").has_value());
  EXPECT_FALSE(BearerToken("abc").has_value());
}

}  // namespace
}  // namespace pruneserve::auth

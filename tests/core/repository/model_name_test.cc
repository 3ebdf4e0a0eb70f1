#include "core/repository/model_name.h"

#include "gtest/gtest.h"

namespace pruneserve {
namespace {

TEST(ModelNameTest, AcceptsOrdinaryNames) {
  for (const char* name :
       {"resnet50", "vgg13_bn", "model-v2.pruned", "_x", "A1"}) {
    EXPECT_TRUE(ValidateModelName(name).ok()) << name;
  }
  EXPECT_TRUE(ValidateModelName(std::string(128, 'a')).ok());
}

TEST(ModelNameTest, RejectsEachBadShapeWithItsReason) {
  struct Case {
    std::string name;
    std::string reason;
  };
  std::vector<Case> cases = {
      {"", "empty"},
      {std::string(129, 'a'), "129 bytes"},
      {"a/b", "path separator"},
      {"a\\b", "path separator"},
      {"a..b", "\"..\""},
      {"..", "\"..\""},
      {std::string("a\x01"
                   "b",
                   3),
       "control character 0x01"},
      {"tab\there", "control character 0x09"},
      {"sp ace", "contains ' '"},
      {".hidden", "must start"},
      {"-flag", "must start"},
  };
  for (const auto& c : cases) {
    absl::Status s = ValidateModelName(c.name);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.name;
    EXPECT_NE(s.message().find(c.reason), std::string::npos)
        << c.name << " -> " << s.message();
  }
}

}  // namespace
}  // namespace pruneserve

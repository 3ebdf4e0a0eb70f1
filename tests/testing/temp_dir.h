// A scratch directory that removes itself, for tests that touch the disk.
#ifndef PRUNESERVE_TESTS_TESTING_TEMP_DIR_H_
#define PRUNESERVE_TESTS_TESTING_TEMP_DIR_H_

#include <string>

namespace pruneserve::testing {

// Creates a fresh directory under $TMPDIR (or /tmp); deletes it recursively on
// destruction. Not thread-safe; owned by one test.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;

  const std::string& path() const { return path_; }
  // path() + "/" + name.
  std::string Join(const std::string& name) const;

 private:
  std::string path_;
};

}  // namespace pruneserve::testing

#endif  // PRUNESERVE_TESTS_TESTING_TEMP_DIR_H_

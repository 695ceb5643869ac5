// connect::ReadSecret: one behaviour for every password in the gateway (see secret.h).
#include "gateway/connect/secret.h"

#include <doctest/doctest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <string>

namespace pn::connect {
namespace {

namespace fs = std::filesystem;

// A file with exactly `content` in it, removed at the end of the test.
struct TempFile {
  explicit TempFile(const std::string& content) {
    static int counter = 0;
    path = (fs::temp_directory_path() /
            ("pn-secret-" + std::to_string(::getpid()) + "-" + std::to_string(counter++)))
               .string();
    std::ofstream(path, std::ios::binary) << content;
  }
  ~TempFile() { fs::remove(path); }
  std::string path;
};

std::string FromFile(const std::string& content) {
  TempFile f(content);
  auto r = ReadSecret({.file = f.path});
  REQUIRE_MESSAGE(r.has_value(), r.error().message());
  return *r;
}

std::string FileError(const std::string& content) {
  TempFile f(content);
  auto r = ReadSecret({.file = f.path});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == Code::kConfig);
  CHECK(r.error().message().find("password_file") != std::string::npos);
  return r.error().message();
}

}  // namespace

TEST_CASE("secret: from a file, exactly one trailing newline (LF or CRLF) is removed") {
  CHECK(FromFile("s3cret") == "s3cret");
  CHECK(FromFile("s3cret\n") == "s3cret");
  CHECK(FromFile("s3cret\r\n") == "s3cret");
  CHECK(FromFile("s3cret\n\n") == "s3cret\n");
  CHECK(FromFile("s3cret\r") == "s3cret\r");  // a lone CR is not a line end
  CHECK(FromFile(" s3 cret ") == " s3 cret ");
  CHECK(FromFile("line1\nline2\n") == "line1\nline2");
}

TEST_CASE(
    "secret: an empty, unreadable or missing file is an error that does not show the secret") {
  CHECK(FileError("").find("is empty") != std::string::npos);
  CHECK(FileError("\n").find("is empty") != std::string::npos);
  CHECK(FileError("\r\n").find("is empty") != std::string::npos);
  auto r = ReadSecret({.file = "/nonexistent/pn-password"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == Code::kConfig);
  CHECK(r.error().message().find("/nonexistent/pn-password") != std::string::npos);
}

TEST_CASE("secret: from the environment, unset or set but empty is an error") {
  ::setenv("PN_SECRET_TEST_VAR", "env-s3cret\n", 1);
  auto r = ReadSecret({.env = "PN_SECRET_TEST_VAR"});
  REQUIRE(r.has_value());
  CHECK(*r == "env-s3cret\n");  // taken as it is: no trimming of the environment

  ::setenv("PN_SECRET_TEST_VAR", "", 1);
  r = ReadSecret({.env = "PN_SECRET_TEST_VAR"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().code() == Code::kConfig);
  CHECK(r.error().message().find("PN_SECRET_TEST_VAR") != std::string::npos);
  CHECK(r.error().message().find("empty") != std::string::npos);

  ::unsetenv("PN_SECRET_TEST_VAR");
  r = ReadSecret({.env = "PN_SECRET_TEST_VAR", .env_key = "sasl_password_env"});
  REQUIRE_FALSE(r.has_value());
  CHECK(r.error().message().find("not set") != std::string::npos);
  CHECK(r.error().message().find("sasl_password_env") != std::string::npos);
}

TEST_CASE("secret: none configured is no secret, both is an error naming both keys") {
  auto none = ReadSecret({});
  REQUIRE(none.has_value());
  CHECK(none->empty());

  ::setenv("PN_SECRET_TEST_BOTH", "hidden-value", 1);
  TempFile f("hidden-value\n");
  auto both = ReadSecret({.file = f.path, .env = "PN_SECRET_TEST_BOTH"});
  REQUIRE_FALSE(both.has_value());
  CHECK(both.error().message().find("password_file") != std::string::npos);
  CHECK(both.error().message().find("password_env") != std::string::npos);
  CHECK(both.error().message().find("hidden-value") == std::string::npos);
  ::unsetenv("PN_SECRET_TEST_BOTH");
}

TEST_CASE("secret: TrimOneNewline removes one line end and nothing else") {
  std::string s = "a\r\n\r\n";
  TrimOneNewline(s);
  CHECK(s == "a\r\n");
  s = "";
  TrimOneNewline(s);
  CHECK(s.empty());
  s = "\n";
  TrimOneNewline(s);
  CHECK(s.empty());
}

}  // namespace pn::connect

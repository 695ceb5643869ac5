#include "gateway/connect/secret.h"

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <iterator>

namespace pn::connect {

void TrimOneNewline(std::string& text) {
  if (text.empty() || text.back() != '\n') return;
  text.pop_back();
  if (!text.empty() && text.back() == '\r') text.pop_back();
}

Result<std::string> ReadSecret(const SecretSource& source) {
  if (!source.file.empty() && !source.env.empty()) {
    return Err(Status::Config("set " + source.file_key + " or " + source.env_key + ", not both"));
  }
  if (!source.file.empty()) {
    std::ifstream in(source.file, std::ios::binary);
    if (!in) {
      return Err(Status::Config(source.file_key + ": cannot read \"" + source.file +
                                "\": " + std::strerror(errno)));
    }
    std::string secret((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    if (in.bad()) {
      return Err(Status::Config(source.file_key + ": cannot read \"" + source.file + "\""));
    }
    TrimOneNewline(secret);
    if (secret.empty()) {
      return Err(Status::Config(source.file_key + ": \"" + source.file + "\" is empty"));
    }
    return secret;
  }
  if (!source.env.empty()) {
    const char* value = std::getenv(source.env.c_str());
    if (value == nullptr) {
      return Err(Status::Config(source.env_key + ": the environment variable " + source.env +
                                " is not set"));
    }
    if (*value == '\0') {
      return Err(Status::Config(source.env_key + ": the environment variable " + source.env +
                                " is empty"));
    }
    return std::string(value);
  }
  return std::string();
}

}  // namespace pn::connect

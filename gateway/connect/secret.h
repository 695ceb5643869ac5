// Secrets (passwords) for drivers and upstreams, read one way everywhere.
//
// A secret comes from a file (`password_file`) or an environment variable (`password_env`),
// never from the configuration file itself. The one behaviour:
//   - neither source set: no secret (an empty string, not an error);
//   - both set: an error;
//   - a file: read whole, in binary; exactly one trailing "\n" or "\r\n" is removed (a second
//     newline, or spaces, are part of the secret); a file that cannot be read is an error;
//   - an environment variable: taken as it is; one that is not set, or is set but empty, is an
//     error;
//   - a secret that is empty after the trim is an error (a file holding only "\n" too): an
//     empty password is almost always a deployment mistake, and a broker would refuse it later
//     with a less helpful message.
// The secret never appears in an error message or a log line: messages name the key, the file
// or the variable, and say what is wrong.
#pragma once

#include <string>
#include <string_view>

#include "core/status.h"

namespace pn::connect {

struct SecretSource {
  std::string file = {};  // path of the file holding the secret; empty: not from a file
  std::string env = {};   // name of the environment variable; empty: not from the environment
  // The configuration keys the two come from, for messages.
  std::string file_key = "password_file";
  std::string env_key = "password_env";

  bool empty() const { return file.empty() && env.empty(); }
};

// Reads the secret as described above. Errors are Code::kConfig.
Result<std::string> ReadSecret(const SecretSource& source);

// Removes one trailing "\n" or "\r\n" from `text` (nothing else). Exposed for tests.
void TrimOneNewline(std::string& text);

}  // namespace pn::connect

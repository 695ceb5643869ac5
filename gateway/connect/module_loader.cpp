#include "gateway/connect/module_loader.h"

#include <dlfcn.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <string>
#include <system_error>
#include <vector>

namespace pn::connect {
namespace {

// Where to look for a module, in order: beside the executable, then ../lib/processnow/.
std::vector<std::string> Candidates(const char* file) {
  std::error_code ec;
  const auto exe = std::filesystem::read_symlink("/proc/self/exe", ec);
  if (ec) return {std::string("/usr/lib/processnow/") + file};
  const auto dir = exe.parent_path();
  return {(dir / file).string(), (dir.parent_path() / "lib" / "processnow" / file).string()};
}

}  // namespace

Result<const void*> LoadModule(const ModuleSpec& spec) {
  std::string tried;
  for (const auto& path : Candidates(spec.file)) {
    if (::access(path.c_str(), F_OK) != 0) {
      tried += "\n  " + path + ": " + std::strerror(errno);
      continue;
    }
    void* handle = ::dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
    if (handle == nullptr) {
      tried += "\n  " + path + ": " + ::dlerror();
      continue;
    }
    void* entry = ::dlsym(handle, spec.entry);
    if (entry == nullptr) {
      tried +=
          "\n  " + path + ": no " + spec.entry + " (not a processnow " + spec.what + " module?)";
      ::dlclose(handle);
      continue;
    }
    const void* api = spec.call_entry(entry);
    const char* version = spec.version_of(api);
    if (std::strcmp(version, spec.binary_version) != 0) {
      tried += "\n  " + path + ": built for processnow " + version + ", this is " +
               spec.binary_version + " (a stale install?)";
      ::dlclose(handle);
      continue;
    }
    return api;
  }
  return Err(
      Status::Unavailable(std::string("cannot load the ") + spec.what + " module " + spec.file +
                          " (package processnow installs it in /usr/lib/processnow):" + tried));
}

}  // namespace pn::connect

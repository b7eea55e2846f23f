// actors/job_library.cpp — opening job libraries with their fingerprint check, and the content-addressed store.
#include "actors/job_library.hpp"

#include <dlfcn.h>
#include <openssl/evp.h>
#include <unistd.h>

#include <fstream>
#include <sstream>

#include "sluice/version.hpp"

namespace sluice::runtime {

JobLibrary open_job_library(const std::string& path) {
  std::error_code ec;
  if (!std::filesystem::exists(path, ec)) throw JobLibraryError("job library '" + path + "' does not exist");
  // dlopen searches the library path for a name without a slash: the file named is meant.
  const std::string file = path.find('/') == std::string::npos ? "./" + path : path;
  void* lib = dlopen(file.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!lib) throw JobLibraryError("'" + path + "' is not a loadable job library: " + dlerror());
  using FingerprintFn = const char* (*)();
  auto fingerprint = reinterpret_cast<FingerprintFn>(dlsym(lib, SLUICE_JOB_FINGERPRINT_SYMBOL));
  auto entry = reinterpret_cast<decltype(JobLibrary::entry)>(dlsym(lib, SLUICE_JOB_ENTRY_SYMBOL));
  if (!fingerprint || !entry) {
    dlclose(lib);
    throw JobLibraryError("'" + path +
                          "' is not a Sluice job library: it exports no " SLUICE_JOB_ENTRY_SYMBOL
                          " (build it with sluice_add_job() and SLUICE_JOB_MAIN)");
  }
  if (std::string(fingerprint()) != build_fingerprint) {
    std::string theirs = fingerprint();
    dlclose(lib);
    throw JobLibraryError("job library '" + path + "' was built against Sluice '" + theirs + "' but this sluice is '" +
                          build_fingerprint + "'; rebuild the job against this version");
  }
  return {path, entry};
}

std::string sha256_hex(std::string_view bytes) {
  unsigned char digest[EVP_MAX_MD_SIZE];
  unsigned int len = 0;
  if (EVP_Digest(bytes.data(), bytes.size(), digest, &len, EVP_sha256(), nullptr) != 1)
    throw std::runtime_error("SHA-256 failed in OpenSSL");
  static const char* digits = "0123456789abcdef";
  std::string out;
  for (unsigned i = 0; i < len; ++i) out += {digits[digest[i] >> 4], digits[digest[i] & 15]};
  return out;
}

LibraryStore::LibraryStore(std::filesystem::path dir) : dir_(std::move(dir)) {
  std::filesystem::create_directories(dir_);
}

std::string LibraryStore::put(std::string_view bytes) {
  auto hash = sha256_hex(bytes);
  if (find(hash)) return hash;
  auto final_path = dir_ / (hash + ".so");
  auto temp = dir_ / (hash + ".so.tmp-" + std::to_string(::getpid()));
  {
    std::ofstream out(temp, std::ios::binary | std::ios::trunc);
    out.write(bytes.data(), std::streamsize(bytes.size()));
    out.flush();
    if (!out) throw std::runtime_error("cannot write job library " + temp.string());
  }
  std::filesystem::rename(temp, final_path);
  return hash;
}

std::optional<std::string> LibraryStore::read(const std::string& hash) const {
  if (hash.size() != 64 || hash.find_first_not_of("0123456789abcdef") != std::string::npos) return std::nullopt;
  auto path = dir_ / (hash + ".so");
  std::ifstream in(path, std::ios::binary);
  if (!in) return std::nullopt;
  std::stringstream s;
  s << in.rdbuf();
  std::string bytes = s.str();
  if (sha256_hex(bytes) != hash) {
    std::error_code ec;
    std::filesystem::remove(path, ec);
    return std::nullopt;
  }
  return bytes;
}

std::optional<std::filesystem::path> LibraryStore::find(const std::string& hash) const {
  if (!read(hash)) return std::nullopt;
  return dir_ / (hash + ".so");
}

}  // namespace sluice::runtime

#include "auth.hpp"

#include <sodium.h>

#include <array>
#include <cstddef>
#include <mutex>
#include <stdexcept>
#include <string>

namespace mud {

namespace {

struct Cost {
    unsigned long long ops;
    std::size_t mem;
};

Cost cost_of(HashCost cost) {
    switch (cost) {
        case HashCost::moderate:
            return {crypto_pwhash_OPSLIMIT_MODERATE, crypto_pwhash_MEMLIMIT_MODERATE};
        case HashCost::min:
            return {crypto_pwhash_OPSLIMIT_MIN, crypto_pwhash_MEMLIMIT_MIN};
        case HashCost::interactive:
            break;
    }
    return {crypto_pwhash_OPSLIMIT_INTERACTIVE, crypto_pwhash_MEMLIMIT_INTERACTIVE};
}

// libsodium rejects a null pointer even with a zero length in some builds.
const char* data_or_empty(std::string_view s) { return s.empty() ? "" : s.data(); }

}  // namespace

std::optional<HashCost> parse_hash_cost(std::string_view name) {
    if (name == "interactive") return HashCost::interactive;
    if (name == "moderate") return HashCost::moderate;
    if (name == "min") return HashCost::min;
    return std::nullopt;
}

void init_crypto() {
    static std::once_flag once;
    // call_once leaves the flag unset when the function throws, so a later call retries.
    std::call_once(once, [] {
        if (sodium_init() < 0) throw std::runtime_error("libsodium: sodium_init() failed");
    });
}

std::string hash_password(std::string_view password, HashCost cost) {
    init_crypto();
    const Cost limits = cost_of(cost);
    std::array<char, crypto_pwhash_STRBYTES> out{};
    // Explicitly argon2id: crypto_pwhash_str's default algorithm is a libsodium choice that
    // may change between versions.
    if (crypto_pwhash_str_alg(out.data(), data_or_empty(password), password.size(), limits.ops,
                              limits.mem, crypto_pwhash_ALG_ARGON2ID13) != 0) {
        throw std::runtime_error("hash_password: argon2id failed (out of memory? it needs " +
                                 std::to_string(limits.mem / 1024) + " KiB)");
    }
    return std::string(out.data());
}

bool verify_password(std::string_view hash, std::string_view password) {
    init_crypto();
    // libsodium reads the hash as a NUL-terminated string of fewer than STRBYTES bytes.
    if (hash.size() >= crypto_pwhash_STRBYTES || hash.find('\0') != std::string_view::npos) {
        return false;
    }
    const std::string terminated(hash);
    // -1 covers a wrong password, a malformed hash and running out of memory alike: all
    // of them are a failed login.
    return crypto_pwhash_str_verify(terminated.c_str(), data_or_empty(password), password.size()) ==
           0;
}

std::string random_token() {
    init_crypto();
    std::array<unsigned char, 32> bytes{};
    randombytes_buf(bytes.data(), bytes.size());
    std::array<char, bytes.size() * 2 + 1> hex{};
    sodium_bin2hex(hex.data(), hex.size(), bytes.data(), bytes.size());
    sodium_memzero(bytes.data(), bytes.size());
    return std::string(hex.data(), bytes.size() * 2);
}

}  // namespace mud

#include "model.hpp"

#include <openssl/evp.h>

#include <array>
#include <stdexcept>

namespace br {

namespace {

constexpr std::array<std::string_view, 9> state_names = {
    "queued",    "fetching",  "running", "passed", "failed",
    "timed_out", "cancelled", "error",   "cached",
};

// Netstring framing ("<length>:<bytes>,"): no two different field lists encode to the same
// bytes, whatever characters the fields contain, so the hash cannot be steered into a
// collision by moving text between a step's name and its command.
void append_field(std::string& out, std::string_view field) {
    out += std::to_string(field.size());
    out += ':';
    out += field;
    out += ',';
}

std::string sha256_hex(std::string_view bytes) {
    std::array<unsigned char, EVP_MAX_MD_SIZE> digest{};
    unsigned int length = 0;
    if (EVP_Digest(bytes.data(), bytes.size(), digest.data(), &length, EVP_sha256(), nullptr) !=
        1) {
        throw std::runtime_error("br: SHA-256 failed in libcrypto (EVP_Digest)");
    }
    constexpr std::string_view hex = "0123456789abcdef";
    std::string out;
    out.reserve(2 * length);
    for (unsigned int i = 0; i < length; ++i) {
        out += hex[digest[i] >> 4];
        out += hex[digest[i] & 0xf];
    }
    return out;
}

}  // namespace

std::string_view to_string(BuildState s) noexcept {
    const auto index = static_cast<std::size_t>(s);
    return index < state_names.size() ? state_names[index] : "unknown";
}

std::optional<BuildState> parse_build_state(std::string_view s) noexcept {
    for (std::size_t i = 0; i < state_names.size(); ++i) {
        if (state_names[i] == s) return static_cast<BuildState>(i);
    }
    return std::nullopt;
}

bool is_terminal(BuildState s) noexcept {
    switch (s) {
        case BuildState::queued:
        case BuildState::fetching:
        case BuildState::running:
            return false;
        case BuildState::passed:
        case BuildState::failed:
        case BuildState::timed_out:
        case BuildState::cancelled:
        case BuildState::error:
        case BuildState::cached:
            return true;
    }
    return false;
}

std::string Toolchain::steps_hash() const {
    // The version tag lets a future encoding change invalidate old cache entries on
    // purpose rather than by accident. The name, limits and ro_paths are left out: renaming
    // a toolchain or raising its memory limit does not change what a passing build produces.
    std::string canonical = "br-steps-v1;";
    append_field(canonical, kind);
    append_field(canonical, version);
    append_field(canonical, std::to_string(env.size()));
    for (const std::string& e : env) append_field(canonical, e);
    append_field(canonical, std::to_string(steps.size()));
    for (const Step& step : steps) {
        append_field(canonical, step.name);
        append_field(canonical, step.run);
    }
    return sha256_hex(canonical);
}

std::int64_t now_ms() noexcept {
    return std::chrono::duration_cast<std::chrono::milliseconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace br

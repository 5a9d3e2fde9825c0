// auth.hpp: password hashing (argon2id through libsodium) and resume tokens. The hash
// calls are slow on purpose (tens of ms, 64 MiB at the interactive cost): call them off
// the game thread. Thread-safe.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace mud {

// argon2id cost. `interactive` is libsodium's OPSLIMIT/MEMLIMIT_INTERACTIVE (the default),
// `moderate` its MODERATE; `min` is libsodium's minimum, for load tests only.
enum class HashCost { interactive, moderate, min };

std::optional<HashCost> parse_hash_cost(std::string_view);   // "interactive" | "moderate" | "min"

// Initialises libsodium once (idempotent, thread-safe); throws std::runtime_error if it cannot.
void init_crypto();
// crypto_pwhash_str output (self-describing: verify works whatever the cost was).
std::string hash_password(std::string_view password, HashCost cost);
bool verify_password(std::string_view hash, std::string_view password);
// 32 random bytes as 64 lowercase hex characters.
std::string random_token();

}  // namespace mud

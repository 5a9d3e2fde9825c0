// config.hpp: mud_server's settings, from an optional JSON file (--config) and then flags,
// which win. Every field has a default, so `mud_server` alone serves 127.0.0.1:4000 with the
// shipped world and a data directory in the current directory. A bad file or flag throws
// ConfigError naming the key or flag.
#pragma once

#include "auth.hpp"
#include "game.hpp"

#include <filesystem>
#include <stdexcept>
#include <string>
#include <vector>

namespace mud {

class ConfigError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct Config {
    std::string host = "127.0.0.1";
    int port = 4000;                                  // 0 = any free port (printed at start)
    std::filesystem::path data_dir = "mud-data";      // created if missing; holds mud.sqlite3
    std::filesystem::path world = MUD_SHARE_DIR "/worlds/default.json";
    std::filesystem::path www = MUD_SHARE_DIR "/www";  // the browser client
    int tick_hz = 20;                                 // game ticks per second
    std::string threads = "auto";                     // runtimes: single | auto | all | N
    HashCost hash_cost = HashCost::interactive;
    unsigned hash_threads = 2;                        // threads for argon2id
    std::size_t max_connections = 20'000;             // sockets, HTTP and WebSocket together
    std::size_t max_message_bytes = 64u << 10;        // WebSocket message cap (close 1009 beyond)
    std::size_t max_queued_bytes = 1u << 20;          // per-session send queue; a slower reader is closed (1008)
    GameOptions game{};                               // rates, timeouts, throttles, admins
    std::vector<std::string> allowed_origins{};       // WebSocket Origin allow-list; empty = any
};

// Reads the JSON config file (keys as in docs/mud.md) into `config`.
void load_config_file(const std::filesystem::path& file, Config& config);
// Applies command-line flags (argv[1..]); returns false if --help was asked for (usage
// printed). Throws ConfigError on a bad flag.
bool parse_flags(int argc, char** argv, Config& config);
std::string usage();

}  // namespace mud

#include "config.hpp"

#include <dally/executor.hpp>
#include <fmt/format.h>
#include <simdjson.h>

#include <charconv>
#include <cstdio>
#include <fstream>
#include <sstream>

namespace mud {

namespace {

template <class T>
T parse_number(std::string_view text, std::string_view what, T lo, T hi) {
    T value{};
    auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
    if (ec != std::errc() || ptr != text.data() + text.size() || value < lo || value > hi) {
        throw ConfigError(fmt::format("{}: expected a number from {} to {}, got \"{}\"", what, lo, hi, text));
    }
    return value;
}

HashCost parse_cost(std::string_view text, std::string_view what) {
    auto cost = parse_hash_cost(text);
    if (!cost) throw ConfigError(fmt::format("{}: expected interactive, moderate or min, got \"{}\"", what, text));
    return *cost;
}

void check_threads(std::string_view text, std::string_view what) {
    if (!dally::Threading::parse(text)) {
        throw ConfigError(fmt::format("{}: expected single, auto, all or a count from 1 to 1024, got \"{}\"", what, text));
    }
}

// One setting, by name, from text: shared by the file (numbers arrive as their JSON text)
// and the flags.
void apply(Config& c, std::string_view key, std::string_view value, std::string_view what) {
    auto& g = c.game;
    auto seconds = [&](long hi) { return std::chrono::seconds(parse_number<long>(value, what, 1, hi)); };
    if (key == "host") c.host = value;
    else if (key == "port") c.port = parse_number<int>(value, what, 0, 65535);
    else if (key == "data_dir") c.data_dir = value;
    else if (key == "world") c.world = value;
    else if (key == "www") c.www = value;
    else if (key == "tick_hz") c.tick_hz = parse_number<int>(value, what, 1, 1000);
    else if (key == "threads") { check_threads(value, what); c.threads = value; }
    else if (key == "hash_cost") c.hash_cost = parse_cost(value, what);
    else if (key == "hash_threads") c.hash_threads = parse_number<unsigned>(value, what, 1, 64);
    else if (key == "max_connections") c.max_connections = parse_number<std::size_t>(value, what, 1, 1'000'000);
    else if (key == "max_message_bytes") c.max_message_bytes = parse_number<std::size_t>(value, what, 1024, 16u << 20);
    else if (key == "max_queued_bytes") c.max_queued_bytes = parse_number<std::size_t>(value, what, 4096, 1u << 30);
    else if (key == "admin") g.admins.emplace_back(value);
    else if (key == "origin") c.allowed_origins.emplace_back(value);
    else if (key == "max_line_bytes") g.max_line_bytes = parse_number<std::size_t>(value, what, 16, 1u << 20);
    else if (key == "commands_per_second") g.commands_per_second = parse_number<int>(value, what, 1, 10'000);
    else if (key == "command_burst") g.command_burst = parse_number<int>(value, what, 1, 10'000);
    else if (key == "max_pending_commands") g.max_pending_commands = parse_number<std::size_t>(value, what, 0, 10'000);
    else if (key == "idle_timeout_s") g.idle_timeout = seconds(7 * 24 * 3600);
    else if (key == "max_connections_per_ip") g.max_connections_per_ip = parse_number<std::size_t>(value, what, 1, 1'000'000);
    else if (key == "max_failed_logins") g.max_failed_logins = parse_number<int>(value, what, 1, 1'000'000);
    else if (key == "login_window_s") g.login_window = seconds(86400);
    else if (key == "max_creates") g.max_creates = parse_number<int>(value, what, 1, 1'000'000);
    else if (key == "create_window_s") g.create_window = seconds(86400);
    else if (key == "resume_grace_s") g.resume_grace = seconds(86400);
    else if (key == "autosave_s") g.autosave_interval = seconds(86400);
    else if (key == "crowd_threshold") g.crowd_threshold = parse_number<std::size_t>(value, what, 1, 1'000'000);
    else if (key == "combat_round_ms") g.combat_round = std::chrono::milliseconds(parse_number<long>(value, what, 100, 60'000));
    else throw ConfigError(fmt::format("{}: unknown setting", what));
}

}  // namespace

void load_config_file(const std::filesystem::path& file, Config& config) {
    simdjson::dom::parser parser;
    simdjson::dom::element root;
    if (auto err = parser.load(file.string()).get(root)) {
        throw ConfigError(fmt::format("{}: {}", file.string(), simdjson::error_message(err)));
    }
    simdjson::dom::object obj;
    if (root.get_object().get(obj)) throw ConfigError(fmt::format("{}: the config is a JSON object", file.string()));
    for (auto [key, value] : obj) {
        std::string what = fmt::format("{}: \"{}\"", file.string(), key);
        std::vector<simdjson::dom::element> values;
        simdjson::dom::array arr;
        if (value.get_array().get(arr) == simdjson::SUCCESS) {
            if (key != "admins" && key != "origins") throw ConfigError(what + ": a list is not allowed here");
            for (auto v : arr) values.push_back(v);
        } else {
            values.push_back(value);
        }
        std::string_view name = key == "admins" ? "admin" : key == "origins" ? "origin" : key;
        for (auto v : values) {
            std::string text;
            std::string_view s;
            if (v.get_string().get(s) == simdjson::SUCCESS) {
                text = s;
            } else if (v.is_int64() || v.is_uint64()) {
                text = simdjson::minify(v);
            } else {
                throw ConfigError(what + ": expected a string or an integer");
            }
            apply(config, name, text, what);
        }
    }
}

std::string usage() {
    return R"(usage: mud_server [options]
  --config FILE            JSON config file (keys: the long option names with _ for -)
  --host IP                listen address (127.0.0.1)
  --port N                 port (4000; 0 = any free port)
  --data-dir DIR           where mud.sqlite3 lives (./mud-data, created if missing)
  --world FILE             world file (the shipped default world)
  --www DIR                browser client files
  --tick-hz N              game ticks per second (20)
  --threads MODE           network runtimes: single | auto | all | N (auto)
  --admin NAME             give NAME admin commands (repeatable)
  --hash-cost COST         argon2id cost: interactive | moderate | min (interactive; min for load tests)
  --max-connections N      open sockets in all (20000)
  --max-connections-per-ip N        (20)
  --max-line-bytes N       longest command line (1024)
  --commands-per-second N  per session (8), with --command-burst N (16)
  --idle-timeout-s N       close idle sessions (1800)
  --resume-grace-s N       keep a dropped character resumable (60)
  --autosave-s N           save changed characters this often (60)
  --max-failed-logins N    per IP per --login-window-s (5 per 60)
  --max-creates N          per IP per --create-window-s (3 per 600)
  --origin URL             allowed WebSocket Origin (repeatable; default any)
  See docs/mud.md for every setting.
)";
}

bool parse_flags(int argc, char** argv, Config& config) {
    // --config first, so that flags override the file whatever their order.
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (arg == "--help" || arg == "-h") {
            std::fputs(usage().c_str(), stdout);
            return false;
        }
        if (arg == "--config") {
            if (i + 1 >= argc) throw ConfigError("--config: needs a file");
            load_config_file(argv[i + 1], config);
        }
    }
    for (int i = 1; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (!arg.starts_with("--")) throw ConfigError(fmt::format("unexpected argument \"{}\" (see --help)", arg));
        if (i + 1 >= argc) throw ConfigError(fmt::format("{}: needs a value", arg));
        std::string_view value = argv[++i];
        if (arg == "--config") continue;
        std::string key(arg.substr(2));
        for (char& ch : key) {
            if (ch == '-') ch = '_';
        }
        apply(config, key, value, arg);
    }
    return true;
}

}  // namespace mud

#include "cli.hpp"

#include <fmt/format.h>
#include <simdjson.h>
#include <unistd.h>

#include <algorithm>
#include <cctype>
#include <charconv>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <dally/web/json.hpp>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "http_client.hpp"

namespace br {

namespace {

using dally::web::json_str;
using simdjson::dom::element;

enum Exit : int { exit_ok = 0, exit_not_passed = 1, exit_usage = 2, exit_server = 3 };

struct UsageError : std::runtime_error {
    using std::runtime_error::runtime_error;
};
// The server answered with an error status, or with something that is not the API's JSON.
struct ServerError : std::runtime_error {
    using std::runtime_error::runtime_error;
};

constexpr std::string_view usage_text = R"(usage: build_runner <command> [arguments] [options]

Commands:
  serve [flags]            run the server (the default command)
  submit <name> <git-url> [--ref R] [--toolchain T]... [--priority P] [--wait]
                           submit a package: one build per toolchain (all by default;
                           --toolchain repeats or takes a comma list). <git-url> may be a
                           local repository path. --wait shows live progress, then the
                           result matrix, and exits 0 only if every build passed
  status [<package> | --build <id>] [--limit N]
                           recent packages as a matrix; one package (id or name); one build
  logs <build> [--follow]  a build's log; --follow streams it until the build ends
  cancel <build>           cancel a queued or running build
  retry <build>            build a finished build again
  help                     this text

Options:
  --server URL   the server (default: $BUILD_RUNNER_URL, else http://127.0.0.1:8080)
  --token T      bearer token for submit, cancel and retry (default: $BUILD_RUNNER_TOKEN,
                 else the file ./br-data/token if it exists)

Exit status: 0 success; 1 a build did not pass; 2 usage error; 3 the server could not be
reached or refused the request.
)";

// ---- arguments ------------------------------------------------------------------------

struct Args {
    std::string command;
    std::vector<std::string> positional;
    std::optional<std::string> server;
    std::optional<std::string> token;
    std::string ref;
    std::vector<std::string> toolchains;
    std::optional<long long> priority;
    std::optional<std::int64_t> build;
    long long limit = 20;
    bool wait = false;
    bool follow = false;
    bool help = false;
};

long long parse_int(std::string_view text, std::string_view what, long long lo, long long hi) {
    long long v = 0;
    auto [end, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
    if (ec != std::errc{} || end != text.data() + text.size() || v < lo || v > hi) {
        throw UsageError(
            fmt::format("{} must be a whole number from {} to {}, not '{}'", what, lo, hi, text));
    }
    return v;
}

// "12" or "#12" (how builds are shown).
std::int64_t parse_id(std::string_view text, std::string_view what) {
    if (text.starts_with('#')) text.remove_prefix(1);
    return parse_int(text, what, 1, INT64_MAX);
}

Args parse_args(int argc, char** argv) {
    // The options each command takes besides --server and --token.
    static const std::map<std::string_view, std::vector<std::string_view>> allowed = {
        {"submit", {"--ref", "--toolchain", "--priority", "--wait"}},
        {"status", {"--build", "--limit"}},
        {"logs", {"--follow"}},
        {"cancel", {}},
        {"retry", {}},
        {"help", {}},
    };
    Args a;
    a.command = argv[1];
    const auto& mine = allowed.at(a.command);
    bool options_done = false;
    for (int i = 2; i < argc; ++i) {
        std::string_view arg = argv[i];
        if (options_done || !arg.starts_with('-') || arg == "-") {
            a.positional.emplace_back(arg);
            continue;
        }
        if (arg == "--") {
            options_done = true;
            continue;
        }
        if (arg == "-h" || arg == "--help") {
            a.help = true;
            continue;
        }
        std::string_view name = arg;
        std::optional<std::string_view> inline_value;
        if (std::size_t eq = arg.find('='); eq != std::string_view::npos) {
            name = arg.substr(0, eq);
            inline_value = arg.substr(eq + 1);
        }
        bool global = name == "--server" || name == "--token";
        if (!global && std::find(mine.begin(), mine.end(), name) == mine.end()) {
            throw UsageError(fmt::format("`{}` does not take the option {}", a.command, name));
        }
        if (name == "--wait" || name == "--follow") {
            if (inline_value) throw UsageError(fmt::format("{} takes no value", name));
            (name == "--wait" ? a.wait : a.follow) = true;
            continue;
        }
        if (!inline_value && i + 1 >= argc) throw UsageError(fmt::format("{} needs a value", name));
        std::string value(inline_value ? *inline_value : std::string_view(argv[++i]));
        if (name == "--server") {
            a.server = value;
        } else if (name == "--token") {
            a.token = value;
        } else if (name == "--ref") {
            a.ref = value;
        } else if (name == "--toolchain") {
            for (std::size_t start = 0; start <= value.size();) {
                std::size_t comma = std::min(value.find(',', start), value.size());
                if (comma > start) a.toolchains.push_back(value.substr(start, comma - start));
                start = comma + 1;
            }
        } else if (name == "--priority") {
            a.priority = parse_int(value, "--priority", -100, 100);
        } else if (name == "--build") {
            a.build = parse_id(value, "--build");
        } else if (name == "--limit") {
            a.limit = parse_int(value, "--limit", 1, 1000);
        }
    }
    return a;
}

std::string env_or(const char* name, std::string fallback) {
    const char* v = std::getenv(name);
    return v != nullptr && *v != '\0' ? std::string(v) : fallback;
}

// $BUILD_RUNNER_TOKEN, else the token the server keeps in its default data directory (the
// common case: server and CLI started from the same directory), else none.
std::string default_token() {
    std::string token = env_or("BUILD_RUNNER_TOKEN", "");
    if (!token.empty()) return token;
    std::ifstream file("br-data/token");
    std::getline(file, token);
    while (!token.empty() && std::isspace(static_cast<unsigned char>(token.back())))
        token.pop_back();
    return token;
}

// A local repository path becomes a file:// URL (the server wants an absolute one).
std::string repo_url(const std::string& arg) {
    namespace fs = std::filesystem;
    if (arg.find("://") != std::string::npos) return arg;
    std::error_code ec;
    if (!fs::exists(arg, ec)) {
        throw UsageError(fmt::format("'{}' is neither a URL nor an existing local path", arg));
    }
    return "file://" + fs::weakly_canonical(fs::absolute(arg, ec), ec).string();
}

// ---- API values -----------------------------------------------------------------------

std::string jstr(element e, const char* key) {
    std::string_view v;
    return e[key].get(v) == simdjson::SUCCESS ? std::string(v) : std::string();
}
std::optional<std::int64_t> jint_opt(element e, const char* key) {
    std::int64_t i = 0;
    if (e[key].get(i) == simdjson::SUCCESS) return i;
    double d = 0;
    if (e[key].get(d) == simdjson::SUCCESS) return static_cast<std::int64_t>(d);
    return std::nullopt;
}
std::int64_t jint(element e, const char* key) { return jint_opt(e, key).value_or(0); }
bool jbool(element e, const char* key) {
    bool b = false;
    return e[key].get(b) == simdjson::SUCCESS && b;
}

struct BuildInfo {
    std::int64_t id = 0, package_id = 0, attempt = 1, signal = 0;
    std::string package, toolchain, state, repo_url, ref, commit, reason, failed_step;
    std::int64_t created_ms = 0, started_ms = 0, finished_ms = 0, duration_ms = 0;
    std::int64_t peak_memory_kb = 0, log_bytes = 0;
    bool log_truncated = false;
    std::optional<std::int64_t> exit_code, cached_from, duplicate_of, retry_of;
};

BuildInfo parse_build(element e) {
    BuildInfo b;
    b.id = jint(e, "id");
    b.package_id = jint(e, "package_id");
    b.attempt = jint_opt(e, "attempt").value_or(1);
    b.signal = jint(e, "signal");
    b.package = jstr(e, "package");
    b.toolchain = jstr(e, "toolchain");
    b.state = jstr(e, "state");
    b.repo_url = jstr(e, "repo_url");
    b.ref = jstr(e, "ref");
    b.commit = jstr(e, "commit");
    b.reason = jstr(e, "reason");
    b.failed_step = jstr(e, "failed_step");
    b.created_ms = jint(e, "created_ms");
    b.started_ms = jint(e, "started_ms");
    b.finished_ms = jint(e, "finished_ms");
    b.duration_ms = jint(e, "duration_ms");
    b.peak_memory_kb = jint(e, "peak_memory_kb");
    b.log_bytes = jint(e, "log_bytes");
    b.log_truncated = jbool(e, "log_truncated");
    b.exit_code = jint_opt(e, "exit_code");
    b.cached_from = jint_opt(e, "cached_from");
    b.duplicate_of = jint_opt(e, "duplicate_of");
    b.retry_of = jint_opt(e, "retry_of");
    return b;
}

struct PackageInfo {
    std::int64_t id = 0, priority = 0, created_ms = 0;
    std::string name, repo_url, ref;
    std::vector<BuildInfo> builds;
};

PackageInfo parse_package(element e) {
    PackageInfo p;
    p.id = jint(e, "id");
    p.priority = jint(e, "priority");
    p.created_ms = jint(e, "created_ms");
    p.name = jstr(e, "name");
    p.repo_url = jstr(e, "repo_url");
    p.ref = jstr(e, "ref");
    simdjson::dom::array builds;
    if (e["builds"].get(builds) == simdjson::SUCCESS) {
        for (element b : builds) p.builds.push_back(parse_build(b));
    }
    return p;
}

bool is_terminal(std::string_view state) {
    return state == "passed" || state == "failed" || state == "timed_out" || state == "cancelled" ||
           state == "error" || state == "cached";
}

// ---- text -----------------------------------------------------------------------------

std::int64_t wall_ms() {
    using namespace std::chrono;
    return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count();
}

std::string duration_text(std::int64_t ms) {
    if (ms <= 0) return "-";
    if (ms < 1000) return fmt::format("{} ms", ms);
    if (ms < 60'000) return fmt::format("{:.1f} s", static_cast<double>(ms) / 1000.0);
    return fmt::format("{} m {:02} s", ms / 60'000, (ms / 1000) % 60);
}

std::string age_text(std::int64_t since_ms) {
    if (since_ms <= 0) return "-";
    std::int64_t s = std::max<std::int64_t>(0, (wall_ms() - since_ms) / 1000);
    if (s < 60) return fmt::format("{} s ago", s);
    if (s < 3600) return fmt::format("{} min ago", s / 60);
    if (s < 86'400) return fmt::format("{} h ago", s / 3600);
    return fmt::format("{} d ago", s / 86'400);
}

std::string bytes_text(std::int64_t n) {
    if (n < 1024) return fmt::format("{} B", n);
    if (n < (1 << 20)) return fmt::format("{:.1f} KiB", static_cast<double>(n) / 1024.0);
    return fmt::format("{:.1f} MiB", static_cast<double>(n) / (1024.0 * 1024.0));
}

// Display width of UTF-8 text, counting code points (names are mostly ASCII).
std::size_t text_width(std::string_view s) {
    return static_cast<std::size_t>(
        std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xC0) != 0x80; }));
}

std::string_view state_colour(std::string_view state) {
    if (state == "passed" || state == "cached") return "32";
    if (state == "failed" || state == "timed_out" || state == "error") return "31";
    if (state == "cancelled") return "33";
    if (state == "running" || state == "fetching") return "36";
    return {};
}

struct Cell {
    std::string text;
    std::string_view colour = {};  // an SGR code ("31"), or none
};
using Row = std::vector<Cell>;

// ---- the client -----------------------------------------------------------------------

struct Json {
    std::unique_ptr<simdjson::dom::parser> parser = std::make_unique<simdjson::dom::parser>();
    element root;  // points into *parser: the parser must not move, hence the unique_ptr
    int status = 0;
};

class Cli {
  public:
    Cli(const std::string& server, std::string token, bool colour)
        : m_token(std::move(token)), m_colour(colour) {
        http::Url url;
        try {
            url = http::parse_url(server);
        } catch (const http::HttpError& e) {
            throw UsageError(fmt::format("--server: {}", e.what()));
        }
        // A path in --server is kept as a prefix (a server behind a reverse proxy).
        std::string prefix = url.target.substr(0, url.target.find('?'));
        while (!prefix.empty() && prefix.back() == '/') prefix.pop_back();
        m_base = url.origin() + prefix;
    }

    int submit(const Args& a);
    int status(const Args& a);
    int logs(const Args& a);
    int cancel(const Args& a);
    int retry(const Args& a);

  private:
    dally::web::Headers headers(bool json_body) const {
        dally::web::Headers h;
        if (!m_token.empty()) h.add("Authorization", "Bearer " + m_token);
        if (json_body) h.add("Content-Type", "application/json");
        return h;
    }
    http::Response call(std::string_view method, const std::string& path,
                        std::string_view body = {}) {
        auto r = http::request(method, m_base + path, headers(!body.empty()), body);
        if (!r.ok()) fail(method, path, r);
        return r;
    }
    Json json(std::string_view method, const std::string& path, std::string_view body = {}) {
        http::Response r = call(method, path, body);
        Json j;
        j.status = r.status;
        if (auto err = j.parser->parse(r.body).get(j.root); err != simdjson::SUCCESS) {
            throw ServerError(
                fmt::format("the answer to {} {} is not JSON ({}): is {} a build_runner server?",
                            method, path, simdjson::error_message(err), m_base));
        }
        return j;
    }
    [[noreturn]] void fail(std::string_view method, const std::string& path,
                           const http::Response& r) const;
    PackageInfo package(std::int64_t id) {
        return parse_package(json("GET", fmt::format("/api/packages/{}", id)).root);
    }
    BuildInfo build(std::int64_t id) {
        return parse_build(json("GET", fmt::format("/api/builds/{}", id)).root);
    }
    bool counts_as_pass(const BuildInfo& b, int depth = 0);
    void follow_package(const PackageInfo& pkg);
    std::string paint(std::string_view text, std::string_view colour) const {
        if (!m_colour || colour.empty()) return std::string(text);
        return fmt::format("\x1b[{}m{}\x1b[0m", colour, text);
    }
    // Aligned columns; the first row is a header (bold on a terminal) unless `header` is false.
    void print_table(const std::vector<Row>& rows, bool header = true) const;
    void print_builds(const std::vector<BuildInfo>& builds);

    std::string m_base;  // origin and path prefix, no trailing slash
    std::string m_token;
    bool m_colour;
};

void Cli::fail(std::string_view method, const std::string& path, const http::Response& r) const {
    std::string message;
    simdjson::dom::parser parser;
    element e;
    if (parser.parse(r.body).get(e) == simdjson::SUCCESS && !jstr(e, "error").empty()) {
        message = jstr(e, "error");
        if (std::string field = jstr(e, "field"); !field.empty())
            message += fmt::format(" (field: {})", field);
    } else {
        message = r.body.substr(0, 300);
        while (!message.empty() && std::isspace(static_cast<unsigned char>(message.back())))
            message.pop_back();
    }
    std::string text = fmt::format("build_runner at {} answered {} {} with {} {}{}{}", m_base,
                                   method, path, r.status, dally::web::reason_phrase(r.status),
                                   message.empty() ? "" : ": ", message);
    if (r.status == 401) {
        text +=
            m_token.empty()
                ? "\n(no token given: pass --token or set BUILD_RUNNER_TOKEN; the server prints "
                  "its token on first start and keeps it in <data-dir>/token)"
                : "\n(the token was refused: check --token / BUILD_RUNNER_TOKEN)";
    }
    throw ServerError(text);
}

void Cli::print_table(const std::vector<Row>& rows, bool header) const {
    std::vector<std::size_t> widths;
    for (const Row& row : rows) {
        widths.resize(std::max(widths.size(), row.size()));
        for (std::size_t i = 0; i < row.size(); ++i)
            widths[i] = std::max(widths[i], text_width(row[i].text));
    }
    for (std::size_t r = 0; r < rows.size(); ++r) {
        std::string line;
        std::string pending;  // padding, written only if something follows (no trailing blanks)
        for (std::size_t i = 0; i < rows[r].size(); ++i) {
            const Cell& c = rows[r][i];
            if (!c.text.empty())
                line +=
                    pending + paint(c.text, r == 0 && header ? std::string_view("1") : c.colour);
            if (!c.text.empty()) pending.clear();
            pending.append(widths[i] - text_width(c.text) + 2, ' ');
        }
        fmt::print("{}\n", line);
    }
}

// Cached counts as a pass only when the build it reused passed.
bool Cli::counts_as_pass(const BuildInfo& b, int depth) {
    if (b.state == "passed") return true;
    if (b.state != "cached") return false;
    if (b.cached_from && depth < 4) return counts_as_pass(build(*b.cached_from), depth + 1);
    return b.reason.empty() && b.exit_code.value_or(0) == 0;
}

void Cli::print_builds(const std::vector<BuildInfo>& builds) {
    std::vector<Row> rows{{{"BUILD"}, {"TOOLCHAIN"}, {"STATE"}, {"DURATION"}, {"REASON"}}};
    for (const BuildInfo& b : builds) {
        std::string reason = b.reason;
        if (b.cached_from)
            reason =
                fmt::format("from #{}{}{}", *b.cached_from, reason.empty() ? "" : ": ", reason);
        if (b.log_truncated) reason += reason.empty() ? "log truncated" : " (log truncated)";
        rows.push_back({{fmt::format("#{}", b.id)},
                        {b.toolchain},
                        {b.state, state_colour(b.state)},
                        {duration_text(b.duration_ms)},
                        {reason}});
    }
    print_table(rows);
}

int Cli::submit(const Args& a) {
    if (a.positional.size() != 2) throw UsageError("submit needs <name> and <git-url>");
    std::string body = fmt::format(R"({{"name":{},"repo_url":{})", json_str{a.positional[0]},
                                   json_str{repo_url(a.positional[1])});
    if (!a.ref.empty()) body += fmt::format(R"(,"ref":{})", json_str{a.ref});
    if (!a.toolchains.empty()) {
        body += R"(,"toolchains":[)";
        for (std::size_t i = 0; i < a.toolchains.size(); ++i) {
            body += fmt::format("{}{}", i == 0 ? "" : ",", json_str{a.toolchains[i]});
        }
        body += "]";
    }
    if (a.priority) body += fmt::format(R"(,"priority":{})", *a.priority);
    body += "}";

    PackageInfo pkg = parse_package(json("POST", "/api/packages", body).root);
    if (pkg.builds.empty()) pkg = package(pkg.id);
    fmt::print("submitted {} as package {}: {} build{}\n", pkg.name, pkg.id, pkg.builds.size(),
               pkg.builds.size() == 1 ? "" : "s");
    if (!a.wait) {
        print_builds(pkg.builds);
        fmt::print("follow with: build_runner status {}\n", pkg.id);
        return exit_ok;
    }
    follow_package(pkg);
    pkg = package(pkg.id);
    fmt::print("\n{} (package {}):\n", pkg.name, pkg.id);
    print_builds(pkg.builds);
    std::size_t passed = 0;
    std::optional<std::int64_t> first_bad;
    for (const BuildInfo& b : pkg.builds) {
        if (counts_as_pass(b)) {
            ++passed;
        } else if (!first_bad) {
            first_bad = b.id;
        }
    }
    fmt::print("{} of {} builds passed\n", passed, pkg.builds.size());
    if (first_bad) fmt::print("see a failed build's log with: build_runner logs {}\n", *first_bad);
    return passed == pkg.builds.size() ? exit_ok : exit_not_passed;
}

// Prints a line per state change of the package's builds until all have finished: the
// event stream for news, a GET of the package to catch up whenever the stream (re)opens,
// goes quiet for a while, or ends (so a missed event costs a delay, never a hang).
void Cli::follow_package(const PackageInfo& pkg) {
    std::size_t width = 0;
    for (const BuildInfo& b : pkg.builds) width = std::max(width, text_width(b.toolchain));
    std::map<std::int64_t, std::string> shown;  // build id → the state (and attempt) last printed
    for (const BuildInfo& b : pkg.builds) shown[b.id];
    auto show = [&](const BuildInfo& b) {
        auto it = shown.find(b.id);
        std::string key = fmt::format("{}/{}", b.state, b.attempt);
        if (it == shown.end() || b.state.empty() || it->second == key) return;
        it->second = key;
        std::string more;  // after the state, which is padded only when something follows
        if (is_terminal(b.state)) more += "  " + duration_text(b.duration_ms);
        if (!b.reason.empty()) more += "  " + b.reason;
        if (b.state == "queued" && b.attempt > 1) more += fmt::format("  (attempt {})", b.attempt);
        if (!more.empty())
            more.insert(0, std::string(9 - std::min<std::size_t>(9, b.state.size()), ' '));
        fmt::print("{}{:{}}  {}{}\n", b.toolchain, "", width - text_width(b.toolchain),
                   paint(b.state, state_colour(b.state)), more);
        std::fflush(stdout);
    };
    auto all_done = [&] {
        return std::all_of(shown.begin(), shown.end(), [](const auto& s) {
            return is_terminal(s.second.substr(0, s.second.find('/')));
        });
    };
    auto catch_up = [&] {
        for (const BuildInfo& b : package(pkg.id).builds) show(b);
        return all_done();
    };
    for (const BuildInfo& b : pkg.builds) show(b);

    std::string path = fmt::format("/api/events/stream?package={}", pkg.id);
    bool with_query_token = false;  // the server wants ?token= (public_read off)
    while (!all_done()) {
        auto on_event = [&](const http::Event& e) {
            static const std::set<std::string_view> build_events = {"queued", "started", "state",
                                                                    "finished"};
            if (!build_events.contains(e.event)) return true;  // log lines, submissions
            simdjson::dom::parser parser;
            element root, b;
            if (parser.parse(e.data).get(root) != simdjson::SUCCESS ||
                root["build"].get(b) != simdjson::SUCCESS) {
                return true;
            }
            show(parse_build(b));
            return !all_done();
        };
        auto on_head = [&](const http::Response&) { return !catch_up(); };
        std::string url = m_base + path;
        if (with_query_token) url += "&token=" + http::url_encode(m_token);
        bool quiet = false;
        try {
            auto r = http::read_events(url, headers(false), on_event, {}, on_head);
            if (r.status == 401 && !m_token.empty() && !with_query_token) {
                with_query_token = true;
                continue;
            }
            if (!r.ok()) fail("GET", path, r);
        } catch (const http::HttpError& e) {
            if (e.kind() != http::ErrorKind::timeout) throw;
            quiet = true;  // no event for a while: check by GET, then listen again
        }
        if (catch_up()) break;
        if (!quiet) std::this_thread::sleep_for(std::chrono::seconds(1));  // the stream ended early
    }
}

int Cli::status(const Args& a) {
    if (a.build) {
        if (!a.positional.empty())
            throw UsageError("status takes a package or --build <id>, not both");
        BuildInfo b = build(*a.build);
        auto opt = [](const std::optional<std::int64_t>& v) {
            return v ? fmt::format("#{}", *v) : std::string();
        };
        std::string exit = b.exit_code ? std::to_string(*b.exit_code)
                                       : (b.signal ? fmt::format("signal {}", b.signal) : "");
        std::vector<Row> rows{
            {{"build"}, {fmt::format("#{} (attempt {})", b.id, b.attempt)}},
            {{"package"}, {fmt::format("{} (package {})", b.package, b.package_id)}},
            {{"toolchain"}, {b.toolchain}},
            {{"state"}, {b.state, state_colour(b.state)}},
            {{"source"}, {b.ref.empty() ? b.repo_url : fmt::format("{} @ {}", b.repo_url, b.ref)}},
            {{"commit"}, {b.commit}},
            {{"submitted"}, {age_text(b.created_ms)}},
            {{"duration"}, {duration_text(b.duration_ms)}},
            {{"exit"}, {exit}},
            {{"failed step"}, {b.failed_step}},
            {{"reason"}, {b.reason}},
            {{"peak memory"}, {b.peak_memory_kb ? bytes_text(b.peak_memory_kb * 1024) : ""}},
            {{"log"}, {bytes_text(b.log_bytes) + (b.log_truncated ? " (truncated)" : "")}},
            {{"cached from"}, {opt(b.cached_from)}},
            {{"duplicate of"}, {opt(b.duplicate_of)}},
            {{"retry of"}, {opt(b.retry_of)}},
        };
        std::erase_if(rows, [](const Row& r) { return r[1].text.empty(); });
        print_table(rows, false);
        return exit_ok;
    }
    if (a.positional.size() > 1) throw UsageError("status takes at most one package");

    std::vector<PackageInfo> list;
    if (a.positional.empty() ||
        a.positional[0].find_first_not_of("#0123456789") != std::string::npos) {
        Json j = json("GET",
                      fmt::format("/api/packages?limit={}", a.positional.empty() ? a.limit : 200));
        simdjson::dom::array arr;
        if (j.root["packages"].get(arr) == simdjson::SUCCESS) {
            for (element e : arr) list.push_back(parse_package(e));
        }
    }
    if (!a.positional.empty()) {
        PackageInfo pkg;
        if (a.positional[0].find_first_not_of("#0123456789") == std::string::npos) {
            pkg = package(parse_id(a.positional[0], "package id"));
        } else {
            auto it = std::find_if(list.begin(), list.end(),
                                   [&](const PackageInfo& p) { return p.name == a.positional[0]; });
            if (it == list.end())
                throw ServerError(fmt::format("no recent package named '{}'", a.positional[0]));
            pkg = *it;
        }
        fmt::print("package {}  {}  {}{}  submitted {}, priority {}\n", pkg.id, pkg.name,
                   pkg.repo_url, pkg.ref.empty() ? "" : " @ " + pkg.ref, age_text(pkg.created_ms),
                   pkg.priority);
        print_builds(pkg.builds);
        return exit_ok;
    }
    if (list.empty()) {
        fmt::print("no packages yet: submit one with `build_runner submit <name> <git-url>`\n");
        return exit_ok;
    }
    // Columns: the toolchains in order of first appearance; a cell shows the newest build.
    std::vector<std::string> toolchains;
    for (const PackageInfo& p : list) {
        for (const BuildInfo& b : p.builds) {
            if (std::find(toolchains.begin(), toolchains.end(), b.toolchain) == toolchains.end())
                toolchains.push_back(b.toolchain);
        }
    }
    std::vector<Row> rows{{{"ID"}, {"PACKAGE"}, {"SUBMITTED"}}};
    for (const std::string& t : toolchains) rows[0].push_back({t});
    for (const PackageInfo& p : list) {
        Row row{{std::to_string(p.id)}, {p.name}, {age_text(p.created_ms)}};
        for (const std::string& t : toolchains) {
            const BuildInfo* newest = nullptr;
            for (const BuildInfo& b : p.builds) {
                if (b.toolchain == t && (newest == nullptr || b.id > newest->id)) newest = &b;
            }
            row.push_back(newest ? Cell{newest->state, state_colour(newest->state)} : Cell{"-"});
        }
        rows.push_back(std::move(row));
    }
    print_table(rows);
    return exit_ok;
}

int Cli::logs(const Args& a) {
    if (a.positional.size() != 1) throw UsageError("logs needs one <build>");
    std::int64_t id = parse_id(a.positional[0], "build id");
    std::string path = fmt::format("/api/builds/{}/log", id);
    if (!a.follow) {
        http::Response r = call("GET", path + "?follow=0");
        std::fwrite(r.body.data(), 1, r.body.size(), stdout);
        return exit_ok;
    }
    char last = '\n';
    auto write = [&](std::string_view bytes) {
        std::fwrite(bytes.data(), 1, bytes.size(), stdout);
        std::fflush(stdout);
        if (!bytes.empty()) last = bytes.back();
        return true;
    };
    // A build may print nothing for minutes: wait as long as the server keeps the stream.
    http::Response r =
        http::stream("GET", m_base + path, headers(false), {}, write, {.read_timeout = {}});
    if (!r.ok()) fail("GET", path, r);
    if (last != '\n' && isatty(STDOUT_FILENO)) fmt::print("\n");
    BuildInfo b = build(id);
    fmt::print(stderr, "build #{} ({}): {}{}{}\n", b.id, b.toolchain, b.state,
               b.duration_ms > 0 ? " after " + duration_text(b.duration_ms) : "",
               b.reason.empty() ? "" : ": " + b.reason);
    return exit_ok;
}

int Cli::cancel(const Args& a) {
    if (a.positional.size() != 1) throw UsageError("cancel needs one <build>");
    std::int64_t id = parse_id(a.positional[0], "build id");
    Json j = json("POST", fmt::format("/api/builds/{}/cancel", id));
    if (j.status == 202) {
        fmt::print("build #{}: cancelling (it had started; it stops within the grace period)\n",
                   id);
    } else {
        BuildInfo b = parse_build(j.root);
        fmt::print("build #{} ({}): {}\n", id, b.toolchain, paint(b.state, state_colour(b.state)));
    }
    return exit_ok;
}

int Cli::retry(const Args& a) {
    if (a.positional.size() != 1) throw UsageError("retry needs one <build>");
    std::int64_t id = parse_id(a.positional[0], "build id");
    BuildInfo b = parse_build(json("POST", fmt::format("/api/builds/{}/retry", id)).root);
    fmt::print(
        "build #{} retried as build #{} ({}, {})\nfollow with: build_runner logs {} --follow\n", id,
        b.id, b.toolchain, b.state, b.id);
    return exit_ok;
}

}  // namespace

bool is_cli_command(std::string_view arg) noexcept {
    return arg == "submit" || arg == "status" || arg == "logs" || arg == "cancel" ||
           arg == "retry" || arg == "help";
}

int cli_main(int argc, char** argv) {
    try {
        if (argc < 2 || !is_cli_command(argv[1])) {
            throw UsageError(argc < 2 ? "no command given"
                                      : fmt::format("unknown command '{}'", argv[1]));
        }
        Args a = parse_args(argc, argv);
        if (a.command == "help" || a.help) {
            fmt::print("{}", usage_text);
            return exit_ok;
        }
        const char* no_color = std::getenv("NO_COLOR");
        bool colour = isatty(STDOUT_FILENO) != 0 && (no_color == nullptr || *no_color == '\0');
        Cli cli(a.server.value_or(env_or("BUILD_RUNNER_URL", "http://127.0.0.1:8080")),
                a.token.value_or(default_token()), colour);
        if (a.command == "submit") return cli.submit(a);
        if (a.command == "status") return cli.status(a);
        if (a.command == "logs") return cli.logs(a);
        if (a.command == "cancel") return cli.cancel(a);
        return cli.retry(a);
    } catch (const UsageError& e) {
        fmt::print(stderr, "build_runner: {}\nrun `build_runner help` for usage\n", e.what());
        return exit_usage;
    } catch (const http::HttpError& e) {
        fmt::print(stderr, "build_runner: {}\n", e.what());
        return exit_server;
    } catch (const ServerError& e) {
        fmt::print(stderr, "build_runner: {}\n", e.what());
        return exit_server;
    } catch (const std::exception& e) {
        fmt::print(stderr, "build_runner: {}\n", e.what());
        return exit_server;
    }
}

}  // namespace br

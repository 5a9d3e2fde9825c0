#include "validate.hpp"

#include <array>
#include <filesystem>
#include <system_error>

namespace br {

namespace {

constexpr std::size_t max_name = 64;
constexpr std::size_t max_url = 2048;
constexpr std::size_t max_ref = 255;

bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_alnum(char c) { return is_alpha(c) || is_digit(c); }
bool is_hex(char c) { return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }
int hex_value(char c) { return is_digit(c) ? c - '0' : (c | 0x20) - 'a' + 10; }
bool equals_lowercase(std::string_view s, std::string_view lower) {
    if (s.size() != lower.size()) return false;
    for (std::size_t i = 0; i < s.size(); ++i) {
        if ((is_alpha(s[i]) ? static_cast<char>(s[i] | 0x20) : s[i]) != lower[i]) return false;
    }
    return true;
}
// Space, C0 controls and DEL: they end arguments, lines and log records.
bool is_control_or_space(unsigned char c) { return c <= 0x20 || c == 0x7f; }

bool contains(std::string_view s, std::string_view what) {
    return s.find(what) != std::string_view::npos;
}

// Calls f on each '/'-separated part (empty parts included); stops at the first non-empty
// answer and returns it.
template <class F>
std::string for_each_segment(std::string_view path, F&& f) {
    std::size_t start = 0;
    while (true) {
        const std::size_t slash = path.find('/', start);
        const std::string_view part =
            path.substr(start, slash == std::string_view::npos ? slash : slash - start);
        if (std::string message = f(part); !message.empty()) return message;
        if (slash == std::string_view::npos) return {};
        start = slash + 1;
    }
}

// Percent-decodes `in` into `out`; false on a '%' not followed by two hex digits.
bool percent_decode(std::string_view in, std::string& out) {
    for (std::size_t i = 0; i < in.size(); ++i) {
        if (in[i] != '%') {
            out += in[i];
            continue;
        }
        if (i + 2 >= in.size() || !is_hex(in[i + 1]) || !is_hex(in[i + 2])) return false;
        out += static_cast<char>(hex_value(in[i + 1]) * 16 + hex_value(in[i + 2]));
        i += 2;
    }
    return true;
}

std::string check_user(std::string_view user) {
    if (contains(user, ":")) return "repo_url: passwords in the URL are not allowed";
    if (user.empty()) return "repo_url: empty user name";
    if (user.front() == '-') return "repo_url: the user name must not start with '-'";
    for (char c : user) {
        if (!is_alnum(c) && c != '.' && c != '_' && c != '-') {
            return "repo_url: the user name may hold only letters, digits, '.', '_' and '-'";
        }
    }
    return {};
}

std::string check_port(std::string_view port) {
    if (port.empty() || port.size() > 5) return "repo_url: bad port";
    int value = 0;
    for (char c : port) {
        if (!is_digit(c)) return "repo_url: bad port";
        value = value * 10 + (c - '0');
    }
    if (value < 1 || value > 65535) return "repo_url: bad port";
    return {};
}

// host[:port] or [ipv6][:port]. The host goes to ssh or git as an argument: one that starts
// with '-' would be read as an option (ssh -oProxyCommand=...).
std::string check_host_port(std::string_view hostport) {
    std::string_view host = hostport;
    std::string_view port;
    bool has_port = false;
    if (!hostport.empty() && hostport.front() == '[') {
        const std::size_t close = hostport.find(']');
        if (close == std::string_view::npos) return "repo_url: unclosed '[' in host";
        host = hostport.substr(1, close - 1);
        const std::string_view after = hostport.substr(close + 1);
        if (!after.empty()) {
            if (after.front() != ':') return "repo_url: unexpected text after ']' in host";
            port = after.substr(1);
            has_port = true;
        }
        if (host.empty()) return "repo_url: a host is required";
        for (char c : host) {
            if (!is_hex(c) && c != ':' && c != '.') return "repo_url: bad IPv6 address in host";
        }
    } else {
        if (const std::size_t colon = hostport.find(':'); colon != std::string_view::npos) {
            host = hostport.substr(0, colon);
            port = hostport.substr(colon + 1);
            has_port = true;
        }
        if (host.empty()) return "repo_url: a host is required";
        if (host.front() == '-') return "repo_url: the host must not start with '-'";
        if (host.front() == '.') return "repo_url: the host must not start with '.'";
        for (char c : host) {
            if (!is_alnum(c) && c != '.' && c != '-' && c != '_') {
                return "repo_url: the host may hold only letters, digits, '.', '_' and '-'";
            }
        }
    }
    return has_port ? check_port(port) : std::string();
}

bool is_git_repository(const std::filesystem::path& dir) {
    std::error_code ec;
    const bool bare = std::filesystem::is_regular_file(dir / "HEAD", ec) &&
                      std::filesystem::is_directory(dir / "objects", ec);
    if (bare) return true;
    return std::filesystem::is_directory(dir / ".git", ec) &&
           std::filesystem::is_regular_file(dir / ".git" / "HEAD", ec);
}

// file:///absolute/path. Git reads such a path without percent-decoding it, so '%' is refused
// rather than guessed at: the path checked here is then exactly the one git opens.
std::string check_file_url(std::string_view url, std::string_view authority,
                           std::string_view path) {
    if (!authority.empty()) return "repo_url: file URLs must be file:///absolute/path (no host)";
    if (path.empty() || path == "/") return "repo_url: a repository path is required";
    if (contains(path, "%")) return "repo_url: percent-encoding is not allowed in file URLs";
    for (char c : path) {
        if (c == '?' || c == '#' || c == '\\')
            return "repo_url: '?', '#' and '\\' are not allowed in file URLs";
    }
    std::string message = for_each_segment(path, [](std::string_view part) {
        return part == ".." ? std::string("repo_url: \"..\" path segments are not allowed")
                            : std::string();
    });
    if (!message.empty()) return message;
    // Kernel views are no source: /proc/self/cwd would be the server's own directory.
    std::string_view top;
    for_each_segment(path, [&](std::string_view part) {
        if (part.empty() || part == ".") return std::string();
        top = part;
        return std::string("found");
    });
    if (top == "proc" || top == "sys" || top == "dev") {
        return "repo_url: file URLs under /proc, /sys and /dev are not allowed";
    }
    // One message for "missing" and "not a repository", so that the API cannot be used to
    // map which directories exist on the server.
    if (!is_git_repository(std::filesystem::path(path))) {
        return "repo_url: " + std::string(url) + " is not a git repository";
    }
    return {};
}

std::string check_remote_url(std::string_view scheme, std::string_view authority,
                             std::string_view path) {
    if (authority.empty()) return "repo_url: a host is required";
    std::string_view hostport = authority;
    if (const std::size_t at = authority.rfind('@'); at != std::string_view::npos) {
        // A token in an https URL would be stored and shown by the public API.
        if (scheme != "ssh") return "repo_url: credentials in the URL are not allowed";
        if (std::string message = check_user(authority.substr(0, at)); !message.empty())
            return message;
        hostport = authority.substr(at + 1);
    }
    if (std::string message = check_host_port(hostport); !message.empty()) return message;
    if (path.empty() || path == "/") return "repo_url: a repository path is required";
    // Checked decoded so that %2e%2e and %0a cannot smuggle in what the raw text may not hold.
    std::string decoded;
    if (!percent_decode(path, decoded)) return "repo_url: malformed percent-encoding";
    // %20 is an ordinary space in a path; the rest below it, and DEL, are not.
    for (char c : decoded) {
        if (c != ' ' && is_control_or_space(static_cast<unsigned char>(c))) {
            return "repo_url: percent-encoded control characters are not allowed";
        }
    }
    return for_each_segment(decoded, [](std::string_view part) {
        return part == ".." ? std::string("repo_url: \"..\" path segments are not allowed")
                            : std::string();
    });
}

}  // namespace

std::string check_package_name(std::string_view name) {
    if (name.empty()) return "name: required";
    if (name.size() > max_name) return "name: at most 64 characters";
    if (!is_alnum(name.front())) return "name: must start with a letter or digit";
    for (char c : name) {
        if (!is_alnum(c) && c != '.' && c != '_' && c != '-') {
            return "name: only letters, digits, '.', '_' and '-' are allowed";
        }
    }
    if (contains(name, "..")) return "name: must not contain \"..\"";
    return {};
}

std::string check_repo_url(std::string_view url) {
    if (url.empty()) return "repo_url: required";
    if (url.size() > max_url) return "repo_url: longer than 2048 bytes";
    // git clone would read "--upload-pack=..." as an option, not a URL.
    if (url.front() == '-') return "repo_url: must not start with '-'";
    for (char c : url) {
        const auto u = static_cast<unsigned char>(c);
        if (is_control_or_space(u))
            return "repo_url: whitespace and control characters are not allowed";
        if (u >= 0x80) return "repo_url: only ASCII characters are allowed (percent-encode others)";
    }
    // Git reads "<transport>::<address>" as a remote helper; ext:: runs any command.
    std::size_t scheme_end = 0;
    while (scheme_end < url.size() && (is_alnum(url[scheme_end]) || url[scheme_end] == '+' ||
                                       url[scheme_end] == '-' || url[scheme_end] == '.')) {
        ++scheme_end;
    }
    const std::string_view scheme = url.substr(0, scheme_end);
    const std::string_view rest = url.substr(scheme_end);
    if (rest.starts_with("::")) {
        if (equals_lowercase(scheme, "ext") || equals_lowercase(scheme, "fd")) {
            return "repo_url: the ext:: and fd:: transports are not allowed";
        }
        return "repo_url: <transport>::<address> URLs are not allowed";
    }
    constexpr std::array<std::string_view, 5> schemes = {"https", "http", "git", "ssh", "file"};
    bool known = false;
    for (std::string_view s : schemes) known = known || s == scheme;
    if (!known || !rest.starts_with("://")) {
        return "repo_url: only https, http, git, ssh and file URLs are accepted";
    }
    const std::string_view after = rest.substr(3);
    const std::size_t slash = after.find('/');
    const std::string_view authority = after.substr(0, slash);
    const std::string_view path =
        slash == std::string_view::npos ? std::string_view() : after.substr(slash);
    if (scheme == "file") return check_file_url(url, authority, path);
    return check_remote_url(scheme, authority, path);
}

std::string check_ref(std::string_view ref) {
    if (ref.empty()) return {};
    if (ref.size() > max_ref) return "ref: longer than 255 bytes";
    bool all_hex = ref.size() == 40;
    for (char c : ref) all_hex = all_hex && is_hex(c);
    if (all_hex) return {};
    if (ref.front() == '-') return "ref: must not start with '-'";
    for (char c : ref) {
        const auto u = static_cast<unsigned char>(c);
        if (is_control_or_space(u)) return "ref: whitespace and control characters are not allowed";
        if (u >= 0x80) return "ref: only ASCII characters are allowed";
        if (contains("~^:?*[\\", std::string_view(&c, 1)))
            return "ref: the characters ~ ^ : ? * [ \\ are not allowed";
    }
    if (contains(ref, "..")) return "ref: must not contain \"..\"";
    if (contains(ref, "@{")) return "ref: must not contain \"@{\"";
    if (ref == "@") return "ref: \"@\" alone is not a ref name";
    if (ref.front() == '/' || ref.back() == '/' || contains(ref, "//")) {
        return "ref: must not start or end with '/' or contain \"//\"";
    }
    if (ref.back() == '.') return "ref: must not end with '.'";
    return for_each_segment(ref, [](std::string_view part) {
        if (part.front() == '.') return std::string("ref: no part of a ref may start with '.'");
        if (part.ends_with(".lock"))
            return std::string("ref: no part of a ref may end with \".lock\"");
        return std::string();
    });
}

std::string check_priority(long long priority) {
    if (priority < -100 || priority > 100) return "priority: must be from -100 to 100";
    return {};
}

}  // namespace br

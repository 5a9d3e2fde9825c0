// tests/web/web_test_support.hpp: a server on an Executor, and a tiny blocking client.
//
// The client is deliberately plain POSIX (blocking sockets with receive timeouts) so it
// shares no code with the server it tests. It reads responses framed by Content-Length,
// chunked encoding or connection close: just enough to check what the server sent.
#pragma once

#include "dally/dally.hpp"
#include "dally/web/server.hpp"
#include "test_support.hpp"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <condition_variable>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

namespace web_test {

// A web::Server serving on `runtimes` runtimes until stop().
class TestServer {
public:
    explicit TestServer(dally::web::Router router, dally::web::ServerOptions options = {}, unsigned runtimes = 2)
        : m_server(std::move(router), std::move(options)),
          m_ex({.threading = dally::Threading::multi(runtimes)}) {
        m_server.listen(dally::Address::loopback_v4(0)).value();
        m_serving = static_cast<int>(runtimes);
        m_ex.start([this](dally::Runtime&) -> dally::Task<void> {
            co_await m_server.serve();
            std::lock_guard lock(m_mutex);
            if (--m_serving == 0) m_done.notify_all();
        });
    }
    ~TestServer() { stop(); }
    void stop() {
        if (m_stopped) return;
        m_stopped = true;
        m_server.shutdown();
        {
            // Executor::start() keeps the runtimes up until stop(): wait for serve() first.
            std::unique_lock lock(m_mutex);
            m_done.wait(lock, [this] { return m_serving == 0; });
        }
        m_ex.stop();
        m_ex.join();
    }
    std::uint16_t port() const { return m_server.port(); }
    dally::web::Server& server() { return m_server; }
    dally::Executor& executor() { return m_ex; }

private:
    dally::web::Server m_server;
    dally::Executor m_ex;
    bool m_stopped = false;
    std::mutex m_mutex;
    std::condition_variable m_done;
    int m_serving = 0;
};

struct HttpResponse {
    int status = 0;
    std::string head;  // status line and headers, CRLFs included
    std::string body;
    bool chunked = false;

    std::optional<std::string> header(std::string_view name) const {
        std::size_t pos = head.find("\r\n");
        while (pos != std::string::npos && pos + 2 < head.size()) {
            std::size_t end = head.find("\r\n", pos + 2);
            std::string_view line(head.data() + pos + 2, (end == std::string::npos ? head.size() : end) - pos - 2);
            std::size_t colon = line.find(':');
            if (colon != std::string_view::npos && dally::web::iequals(line.substr(0, colon), name)) {
                std::string_view v = line.substr(colon + 1);
                while (!v.empty() && v.front() == ' ') v.remove_prefix(1);
                return std::string(v);
            }
            pos = end;
        }
        return std::nullopt;
    }
};

class Client {
public:
    explicit Client(std::uint16_t port, int timeout_ms = 5000 * dally_test::slowdown) {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_port = htons(port);
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        timeval tv{timeout_ms / 1000, (timeout_ms % 1000) * 1000};
        ::setsockopt(m_fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ::setsockopt(m_fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        int one = 1;
        ::setsockopt(m_fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
        m_connected = ::connect(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0;
    }
    ~Client() {
        if (m_fd >= 0) ::close(m_fd);
    }
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;

    bool connected() const { return m_connected; }
    int fd() const { return m_fd; }

    bool send(std::string_view data) {
        while (!data.empty()) {
            ssize_t n = ::send(m_fd, data.data(), data.size(), MSG_NOSIGNAL);
            if (n <= 0) return false;
            data.remove_prefix(static_cast<std::size_t>(n));
        }
        return true;
    }

    // Reads one response; nullopt on timeout or if the connection closed before one.
    // `head_request`: the response to a HEAD has no body whatever its headers say.
    std::optional<HttpResponse> read_response(bool head_request = false) {
        HttpResponse r;
        std::size_t end;
        while ((end = m_buf.find("\r\n\r\n")) == std::string::npos) {
            if (!fill()) return std::nullopt;
        }
        r.head = m_buf.substr(0, end + 2);
        m_buf.erase(0, end + 4);
        if (r.head.size() < 12) return std::nullopt;
        r.status = std::atoi(r.head.c_str() + 9);
        if (head_request || r.status < 200 || r.status == 204 || r.status == 304) return r;
        if (auto te = r.header("Transfer-Encoding"); te && dally::web::iequals(*te, "chunked")) {
            r.chunked = true;
            for (;;) {
                std::size_t eol;
                while ((eol = m_buf.find("\r\n")) == std::string::npos) {
                    if (!fill()) return std::nullopt;
                }
                std::size_t size = std::stoul(m_buf.substr(0, eol), nullptr, 16);
                m_buf.erase(0, eol + 2);
                while (m_buf.size() < size + 2) {
                    if (!fill()) return std::nullopt;
                }
                r.body.append(m_buf, 0, size);
                m_buf.erase(0, size + 2);
                if (size == 0) return r;
            }
        }
        if (auto cl = r.header("Content-Length")) {
            std::size_t size = std::stoul(*cl);
            while (m_buf.size() < size) {
                if (!fill()) return std::nullopt;
            }
            r.body = m_buf.substr(0, size);
            m_buf.erase(0, size);
            return r;
        }
        while (fill()) {
        }
        r.body = std::move(m_buf);
        m_buf.clear();
        return r;
    }

    // One request and its response.
    std::optional<HttpResponse> request(std::string_view raw, bool head_request = false) {
        if (!send(raw)) return std::nullopt;
        return read_response(head_request);
    }

    // True if the server closed the connection (EOF) within the receive timeout, with no
    // bytes pending before the EOF.
    bool closed_by_server() {
        if (!m_buf.empty()) return false;
        char c;
        ssize_t n = ::recv(m_fd, &c, 1, 0);
        return n == 0 || (n < 0 && errno == ECONNRESET);
    }

    std::string& buffer() { return m_buf; }

    // Reads whatever arrives until EOF or timeout.
    std::string read_to_end() {
        while (fill()) {
        }
        return std::exchange(m_buf, {});
    }

private:
    bool fill() {
        char tmp[16384];
        ssize_t n = ::recv(m_fd, tmp, sizeof tmp, 0);
        if (n <= 0) return false;
        m_buf.append(tmp, static_cast<std::size_t>(n));
        return true;
    }

    int m_fd = -1;
    bool m_connected = false;
    std::string m_buf;
};

inline std::string get(std::string_view path, std::string_view extra_headers = {}) {
    return "GET " + std::string(path) + " HTTP/1.1\r\nHost: test\r\n" + std::string(extra_headers) + "\r\n";
}

}  // namespace web_test

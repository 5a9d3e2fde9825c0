// The CLI's HTTP client against a real dally::web::Server on loopback, and against raw TCP
// listeners for what a well-behaved server never sends: silence, a full backlog, garbage,
// cut-off bodies. Also the pure parts: URLs and the Server-Sent Events parser.
#include "http_client.hpp"

#include <poll.h>

#include <atomic>
#include <dally/web/json.hpp>
#include <thread>
#include <vector>

#include "web/web_test_support.hpp"

using namespace std::chrono_literals;
using namespace br;
using dally::Task;
using dally::web::Request;
using dally::web::Response;
using web_test::TestServer;

namespace {

std::string base(const TestServer& srv) { return fmt::format("http://127.0.0.1:{}", srv.port()); }

// Runs `f` and returns the HttpError it threw (fails the test if it threw none).
template <class F>
http::HttpError error_of(F&& f) {
    try {
        f();
    } catch (const http::HttpError& e) {
        return e;
    }
    ADD_FAILURE() << "no HttpError thrown";
    return http::HttpError(http::ErrorKind::io, "none");
}

// A loopback TCP socket bound to a free port; listening only if asked (`backlog` >= 0).
class RawSocket {
  public:
    explicit RawSocket(int backlog) {
        m_fd = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        EXPECT_EQ(::bind(m_fd, reinterpret_cast<sockaddr*>(&a), sizeof a), 0);
        socklen_t len = sizeof a;
        ::getsockname(m_fd, reinterpret_cast<sockaddr*>(&a), &len);
        m_port = ntohs(a.sin_port);
        if (backlog >= 0) {
            EXPECT_EQ(::listen(m_fd, backlog), 0);
        }
    }
    ~RawSocket() { ::close(m_fd); }
    RawSocket(const RawSocket&) = delete;
    RawSocket& operator=(const RawSocket&) = delete;
    int fd() const { return m_fd; }
    std::uint16_t port() const { return m_port; }
    std::string url(std::string_view path = "/") const {
        return fmt::format("http://127.0.0.1:{}{}", m_port, path);
    }

  private:
    int m_fd = -1;
    std::uint16_t m_port = 0;
};

// Accepts one connection, reads the request head, writes `answer` verbatim and closes.
class CannedServer {
  public:
    explicit CannedServer(std::string answer) : m_sock(16) {
        m_thread = std::thread([this, answer = std::move(answer)] {
            pollfd p{m_sock.fd(), POLLIN, 0};
            if (::poll(&p, 1, 10'000) != 1) return;
            int fd = ::accept(m_sock.fd(), nullptr, nullptr);
            if (fd < 0) return;
            std::string head;
            char buf[4096];
            while (head.find("\r\n\r\n") == std::string::npos) {
                ssize_t n = ::recv(fd, buf, sizeof buf, 0);
                if (n <= 0) break;
                head.append(buf, static_cast<std::size_t>(n));
            }
            (void)::send(fd, answer.data(), answer.size(), MSG_NOSIGNAL);
            ::close(fd);
        });
    }
    ~CannedServer() { m_thread.join(); }
    CannedServer(const CannedServer&) = delete;
    CannedServer& operator=(const CannedServer&) = delete;
    std::string url(std::string_view path = "/") const { return m_sock.url(path); }

  private:
    RawSocket m_sock;
    std::thread m_thread;
};

dally::web::Router test_router(std::atomic<bool>& first_chunk_seen) {
    dally::web::Router r;
    r.get("/hello", [](Request&) -> Task<Response> {
        co_return Response::text(200, "hello, client").header("X-Kind", "greeting");
    });
    r.post("/echo", [](Request& req) -> Task<Response> {
        co_return Response::json(
            200, fmt::format(R"({{"body":{},"auth":{},"type":{}}})", dally::web::json_str{req.body},
                             dally::web::json_str{req.header("Authorization").value_or("")},
                             dally::web::json_str{req.header("Content-Type").value_or("")}));
    });
    r.get("/missing",
          [](Request&) -> Task<Response> { co_return Response::error(404, "no such build"); });
    r.get("/chunked", [](Request&) -> Task<Response> {
        co_return Response::stream("text/plain", [](dally::web::BodyWriter& out) -> Task<void> {
            for (int i = 0; i < 3; ++i) {
                if (!co_await out.write(fmt::format("part {}\n", i))) co_return;
            }
        });
    });
    // Sends "first", then holds the response open until the client has seen it (or 5 s).
    r.get("/follow", [&first_chunk_seen](Request&) -> Task<Response> {
        co_return Response::stream(
            "text/plain", [&first_chunk_seen](dally::web::BodyWriter& out) -> Task<void> {
                if (!co_await out.write("first\n")) co_return;
                for (int i = 0; i < 500 && !first_chunk_seen.load(); ++i)
                    (void)co_await dally::sleep_for(10ms);
                (void)co_await out.write(first_chunk_seen.load() ? "second\n"
                                                                 : "client saw nothing early\n");
            });
    });
    r.get("/endless", [](Request&) -> Task<Response> {
        co_return Response::stream("text/plain", [](dally::web::BodyWriter& out) -> Task<void> {
            for (;;) {
                if (!co_await out.write("tick\n")) co_return;
                (void)co_await dally::sleep_for(20ms);
            }
        });
    });
    r.get("/events", [](Request&) -> Task<Response> {
        co_return Response::events([](dally::web::EventStream& ev) -> Task<void> {
            (void)co_await ev.comment("keep-alive");
            (void)co_await ev.send(R"({"type":"started","build":{"id":1}})", "started", "1");
            (void)co_await ev.send("line one\nline two\n", "log");
            (void)co_await ev.send(R"({"type":"finished"})", "finished", "3");
        });
    });
    return r;
}

class HttpClientTest : public ::testing::Test {
  protected:
    std::atomic<bool> first_chunk_seen{false};
    TestServer srv{test_router(first_chunk_seen), {}, 1};
};

}  // namespace

TEST_F(HttpClientTest, GetReturnsStatusHeadersAndBody) {
    auto r = http::request("GET", base(srv) + "/hello");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "hello, client");
    EXPECT_EQ(r.header("x-kind").value_or(""), "greeting");
    EXPECT_EQ(r.header("Content-Length").value_or(""), "13");
}

TEST_F(HttpClientTest, PostSendsTheBodyAndTheCallersHeaders) {
    dally::web::Headers h;
    h.add("Authorization", "Bearer s3cret");
    h.add("Content-Type", "application/json");
    std::string body = R"({"name":"hello","repo_url":"file:///tmp/x"})";
    auto r = http::request("POST", base(srv) + "/echo", h, body);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body,
              fmt::format(R"({{"body":{},"auth":"Bearer s3cret","type":"application/json"}})",
                          dally::web::json_str{body}));
    // An empty POST still says Content-Length: 0 (servers may insist on a length).
    auto empty = http::request("POST", base(srv) + "/echo");
    EXPECT_EQ(empty.status, 200);
    EXPECT_NE(empty.body.find(R"("body":"")"), std::string::npos);
}

TEST_F(HttpClientTest, AnErrorStatusIsReturnedNotThrown) {
    auto r = http::request("GET", base(srv) + "/missing");
    EXPECT_EQ(r.status, 404);
    EXPECT_FALSE(r.ok());
    EXPECT_NE(r.body.find("no such build"), std::string::npos);
}

TEST_F(HttpClientTest, ChunkedResponseIsDechunked) {
    auto r = http::request("GET", base(srv) + "/chunked");
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.header("Transfer-Encoding").value_or(""), "chunked");
    EXPECT_EQ(r.body, "part 0\npart 1\npart 2\n");
}

TEST_F(HttpClientTest, StreamHandsOverChunksBeforeTheResponseEnds) {
    std::string got;
    auto r = http::stream("GET", base(srv) + "/follow", {}, {}, [&](std::string_view piece) {
        got += piece;
        if (got.find("first\n") != std::string::npos) first_chunk_seen = true;
        return true;
    });
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(r.body.empty());  // a 2xx body goes to the callback only
    // The server wrote "second" only after the client had reported "first".
    EXPECT_EQ(got, "first\nsecond\n");
}

TEST_F(HttpClientTest, StreamStopsWhenTheCallbackSaysSo) {
    int calls = 0;
    auto t0 = dally::Clock::now();
    auto r = http::stream("GET", base(srv) + "/endless", {}, {},
                          [&](std::string_view) { return ++calls < 3; });
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(calls, 3);
    EXPECT_LT(dally_test::ms_since(t0), 3000);
}

TEST_F(HttpClientTest, StreamBuffersAnErrorBodyInsteadOfCallingBack) {
    bool called = false;
    auto r = http::stream("GET", base(srv) + "/missing", {}, {},
                          [&](std::string_view) { return called = true; });
    EXPECT_EQ(r.status, 404);
    EXPECT_FALSE(called);
    EXPECT_NE(r.body.find("no such build"), std::string::npos);
}

TEST_F(HttpClientTest, ServerSentEventsAreParsedWithMultiLineData) {
    std::vector<http::Event> events;
    bool head_seen_first = false;
    auto r = http::read_events(
        base(srv) + "/events", {},
        [&](const http::Event& e) {
            events.push_back(e);
            return true;
        },
        {},
        [&](const http::Response& head) {
            head_seen_first =
                events.empty() &&
                head.header("Content-Type").value_or("").starts_with("text/event-stream");
            return true;
        });
    EXPECT_EQ(r.status, 200);
    EXPECT_TRUE(head_seen_first);
    ASSERT_EQ(events.size(), 3u);
    EXPECT_EQ(events[0].event, "started");
    EXPECT_EQ(events[0].data, R"({"type":"started","build":{"id":1}})");
    EXPECT_EQ(events[0].id, "1");
    EXPECT_EQ(events[1].event, "log");
    EXPECT_EQ(events[1].data, "line one\nline two\n");
    EXPECT_EQ(events[1].id, "1");  // the last id carries over, as in EventSource
    EXPECT_EQ(events[2].event, "finished");
    EXPECT_EQ(events[2].id, "3");
}

TEST_F(HttpClientTest, EventReaderStopsWhenTheHandlerSaysSo) {
    int seen = 0;
    auto r = http::read_events(base(srv) + "/events", {},
                               [&](const http::Event&) { return ++seen < 2; });
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(seen, 2);
}

TEST(EventParser, AnySplitAndAnyLineEndingGiveTheSameEvents) {
    const std::string stream =
        "\xEF\xBB\xBF: comment\r\n"
        "event: queued\r\ndata: {\"a\":1}\r\n\r\n"
        "data:no space\rdata:  two spaces\r\r"
        "id: 9\nevent: finished\ndata\n\n"
        "event: ignored-without-data\n\n"
        "data: last\n\n"
        "data: unfinished";  // no blank line: never dispatched
    auto parse = [&](std::size_t piece) {
        http::EventParser parser;
        std::vector<http::Event> out;
        for (std::size_t i = 0; i < stream.size(); i += piece) {
            EXPECT_TRUE(
                parser.feed(std::string_view(stream).substr(i, piece), [&](const http::Event& e) {
                    out.push_back(e);
                    return true;
                }));
        }
        return out;
    };
    auto whole = parse(stream.size());
    ASSERT_EQ(whole.size(), 4u);
    EXPECT_EQ(whole[0].event, "queued");
    EXPECT_EQ(whole[0].data, R"({"a":1})");
    EXPECT_EQ(whole[1].event, "message");
    EXPECT_EQ(whole[1].data, "no space\n two spaces");
    EXPECT_EQ(whole[2].event, "finished");
    EXPECT_EQ(whole[2].data, "");
    EXPECT_EQ(whole[2].id, "9");
    EXPECT_EQ(whole[3].data, "last");
    for (std::size_t piece : {1u, 2u, 3u, 7u}) {
        auto split = parse(piece);
        ASSERT_EQ(split.size(), whole.size()) << "piece " << piece;
        for (std::size_t i = 0; i < split.size(); ++i) {
            EXPECT_EQ(split[i].event, whole[i].event) << piece;
            EXPECT_EQ(split[i].data, whole[i].data) << piece;
            EXPECT_EQ(split[i].id, whole[i].id) << piece;
        }
    }
}

TEST(HttpClient, ConnectionRefusedSaysWhereAndWhatToDo) {
    RawSocket bound_not_listening(-1);  // holds the port so nobody else listens on it
    auto e = error_of([&] { (void)http::request("GET", bound_not_listening.url("/api/queue")); });
    EXPECT_EQ(e.kind(), http::ErrorKind::unreachable);
    std::string want =
        "cannot reach build_runner at " + bound_not_listening.url("") + ": connection refused";
    EXPECT_NE(std::string(e.what()).find(want), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("is `build_runner serve` running?"), std::string::npos)
        << e.what();
}

TEST(HttpClient, ReadTimeoutAgainstAServerThatNeverAnswers) {
    RawSocket silent(16);  // the kernel completes the handshake; nobody ever accepts
    auto t0 = dally::Clock::now();
    auto e = error_of([&] {
        (void)http::request("GET", silent.url("/healthz"), {}, {}, {.read_timeout = 200ms});
    });
    EXPECT_EQ(e.kind(), http::ErrorKind::timeout);
    EXPECT_NE(std::string(e.what()).find("sent nothing for 0.2 s"), std::string::npos) << e.what();
    EXPECT_GE(dally_test::ms_since(t0), 150);
    EXPECT_LT(dally_test::ms_since(t0), 3000);
}

TEST(HttpClient, ConnectTimeoutWhenNobodyCompletesTheHandshake) {
    // A full accept queue makes the kernel drop further SYNs: the connect hangs like one to
    // a dead host, without leaving loopback.
    RawSocket full(0);
    std::vector<int> fillers;
    for (int i = 0; i < 8; ++i) {
        int fd = ::socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
        sockaddr_in a{};
        a.sin_family = AF_INET;
        a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        a.sin_port = htons(full.port());
        (void)::connect(fd, reinterpret_cast<sockaddr*>(&a), sizeof a);
        fillers.push_back(fd);
    }
    std::this_thread::sleep_for(50ms);
    http::HttpError e(http::ErrorKind::io, "");
    try {
        (void)http::request("GET", full.url(), {}, {},
                            {.connect_timeout = 300ms, .read_timeout = 300ms});
    } catch (const http::HttpError& err) {
        e = err;
    }
    for (int fd : fillers) ::close(fd);
    if (e.kind() != http::ErrorKind::timeout)
        GTEST_SKIP() << "the kernel accepted past the backlog: " << e.what();
    EXPECT_NE(std::string(e.what()).find("no connection within 0.3 s"), std::string::npos)
        << e.what();
}

TEST(HttpClient, MalformedResponsesAreClearErrorsNotCrashes) {
    for (std::string answer :
         {"SSH-2.0-OpenSSH_9.2\r\n", "HTTP/1.1 200 OK\r\nContent-Length: abc\r\n\r\n",
          "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nxx\r\n"}) {
        CannedServer bad(answer);
        auto e = error_of([&] { (void)http::request("GET", bad.url()); });
        EXPECT_EQ(e.kind(), http::ErrorKind::malformed) << answer;
        EXPECT_NE(std::string(e.what()).find("malformed response from " + bad.url("")),
                  std::string::npos)
            << e.what();
    }
}

TEST(HttpClient, ACutOffBodyIsAnErrorNotAShortBody) {
    CannedServer cut("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
    auto e = error_of([&] { (void)http::request("GET", cut.url()); });
    EXPECT_EQ(e.kind(), http::ErrorKind::closed);
    EXPECT_NE(std::string(e.what()).find("before the response ended"), std::string::npos)
        << e.what();

    CannedServer mute("");
    auto e2 = error_of([&] { (void)http::request("GET", mute.url()); });
    EXPECT_EQ(e2.kind(), http::ErrorKind::closed);
    EXPECT_NE(std::string(e2.what()).find("without answering"), std::string::npos) << e2.what();
}

TEST(HttpClient, ABodyWithoutLengthEndsWhenTheServerCloses) {
    CannedServer old_style("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\n\r\nuntil close");
    auto r = http::request("GET", old_style.url());
    EXPECT_EQ(r.status, 200);
    EXPECT_EQ(r.body, "until close");
}

TEST(HttpClient, InterimContinueIsSkippedAndHeadHasNoBody) {
    CannedServer interim(
        "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\nok");
    auto r = http::request("POST", interim.url(), {}, "x");
    EXPECT_EQ(r.status, 201);
    EXPECT_EQ(r.body, "ok");
    // A HEAD answer announces a length but carries no body: the client must not wait for it.
    CannedServer head("HTTP/1.1 200 OK\r\nContent-Length: 5\r\nX-A: b\r\n\r\n");
    auto h = http::request("HEAD", head.url(), {}, {}, {.read_timeout = 2s});
    EXPECT_EQ(h.status, 200);
    EXPECT_EQ(h.header("X-A").value_or(""), "b");
    EXPECT_TRUE(h.body.empty());
}

TEST(HttpClient, BufferedBodiesAndHeadsHaveLimits) {
    CannedServer big("HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n" + std::string(100, 'x'));
    auto e =
        error_of([&] { (void)http::request("GET", big.url(), {}, {}, {.max_body_bytes = 10}); });
    EXPECT_EQ(e.kind(), http::ErrorKind::too_large);
    CannedServer fat_head("HTTP/1.1 200 OK\r\nX-Big: " + std::string(100'000, 'h') + "\r\n\r\n");
    auto e2 = error_of([&] { (void)http::request("GET", fat_head.url()); });
    EXPECT_EQ(e2.kind(), http::ErrorKind::too_large);
}

TEST(Url, ParsesHostPortAndTarget) {
    auto u = http::parse_url("http://127.0.0.1:8080/api/packages?limit=5#frag");
    EXPECT_EQ(u.host, "127.0.0.1");
    EXPECT_EQ(u.port, 8080);
    EXPECT_EQ(u.target, "/api/packages?limit=5");
    EXPECT_EQ(u.origin(), "http://127.0.0.1:8080");
    auto d = http::parse_url("HTTP://localhost");
    EXPECT_EQ(d.port, 80);
    EXPECT_EQ(d.target, "/");
    auto v6 = http::parse_url("http://[::1]:9000?x=1");
    EXPECT_EQ(v6.host, "::1");
    EXPECT_EQ(v6.target, "/?x=1");
    EXPECT_EQ(v6.origin(), "http://[::1]:9000");
    EXPECT_EQ(http::url_encode("a b/é&"), "a%20b%2F%C3%A9%26");
}

TEST(Url, RejectsWhatTheClientCannotSpeak) {
    auto https = error_of([] { (void)http::parse_url("https://example.org/"); });
    EXPECT_EQ(https.kind(), http::ErrorKind::bad_url);
    EXPECT_NE(std::string(https.what()).find("https:// is not supported"), std::string::npos)
        << https.what();
    for (const char* bad :
         {"127.0.0.1:8080", "http://", "http://:80/", "http://h:0", "http://h:99999", "http://h:x",
          "http://user:pw@h/", "http://[::1", "http://h/a b", "http://h/\r\nX: y"}) {
        auto e = error_of([&] { (void)http::parse_url(bad); });
        EXPECT_EQ(e.kind(), http::ErrorKind::bad_url) << bad;
    }
}

TEST(HttpClient, AHeaderCannotSmuggleALineBreak) {
    dally::web::Headers h;
    h.add("Authorization", "Bearer t\r\nX-Admin: yes");
    RawSocket never_contacted(-1);
    EXPECT_THROW((void)http::request("GET", never_contacted.url(), h), std::invalid_argument);
}

// Tests for dally/fs.hpp: File open/read/write/stat/fsync/close, the fs:: path operations,
// read_file/write_file, list_dir, errors as values, timeouts, and use outside a runtime.
// Every test works in its own temp directory under /tmp, removed at the end.
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <dally/blocking.hpp>
#include <dally/fs.hpp>
#include <dally/runtime.hpp>
#include <dally/time.hpp>
#include <filesystem>
#include <fstream>
#include <future>
#include <memory>
#include <string>
#include <vector>

#include "test_support.hpp"

namespace {

using namespace std::chrono_literals;
using dally::File;
using dally::Runtime;
using dally::Task;
namespace fs = dally::fs;

// Errors come as system_category codes; compare them with portable conditions.
const std::error_condition enoent = std::errc::no_such_file_or_directory;

// A fresh directory under /tmp, removed with its contents.
class TempDir {
  public:
    TempDir() {
        std::string tmpl = "/tmp/dally-fs-test-XXXXXX";
        if (::mkdtemp(tmpl.data()) == nullptr) throw std::runtime_error("mkdtemp failed");
        m_path = tmpl;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(m_path, ec);
    }
    std::string operator/(const std::string& name) const { return m_path + "/" + name; }
    const std::string& path() const { return m_path; }

  private:
    std::string m_path;
};

std::string pattern(std::size_t n) {
    std::string s(n, '\0');
    for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>('a' + (i * 7 + i / 4093) % 26);
    return s;
}

std::string read_plain(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    return std::string(std::istreambuf_iterator<char>(in), {});
}

void write_plain(const std::string& path, const std::string& data) {
    std::ofstream(path, std::ios::binary) << data;
}

template <class T>
T run(Task<T> t) {
    Runtime rt;
    return rt.block_on(std::move(t));
}

TEST(File, OpeningAMissingFileReturnsENOENTAsAValue) {
    TempDir dir;
    auto r = run([](std::string p) -> Task<dally::Result<File>> {
        co_return co_await File::open(p);
    }(dir / "nope"));
    EXPECT_FALSE(r.ok());
    EXPECT_EQ(r.error(), enoent);
}

TEST(File, WriteAllThenReadAllRoundTripsSmallAndTenMiBFiles) {
    TempDir dir;
    for (std::size_t size : {std::size_t{0}, std::size_t{5}, std::size_t{10} << 20}) {
        const std::string data = pattern(size);
        auto back =
            run([](std::string p, const std::string& d) -> Task<dally::Result<std::string>> {
                {
                    auto f = co_await File::create(p);
                    if (!f) co_return f.error();
                    auto w = co_await f->write_all(std::span<const char>(d));
                    EXPECT_TRUE(w.ok()) << w.error().message();
                    EXPECT_EQ(*w, d.size());
                    EXPECT_TRUE((co_await f->close()).ok());
                    EXPECT_FALSE(f->is_open());
                }
                auto f = co_await File::open(p);
                if (!f) co_return f.error();
                co_return co_await f->read_all();
            }(dir / "data", data));
        ASSERT_TRUE(back.ok()) << back.error().message();
        EXPECT_EQ(back->size(), size);
        EXPECT_TRUE(*back == data) << "content differs at size " << size;
        EXPECT_EQ(read_plain(dir / "data"), data);
    }
}

TEST(File, ReadAtAndWriteAtUseTheGivenOffsetAndLeaveThePositionAlone) {
    TempDir dir;
    write_plain(dir / "f", "0123456789");
    auto [at, streamed] = run([](std::string p) -> Task<std::pair<std::string, std::string>> {
        auto f = co_await File::open(p, {.write = true});
        EXPECT_TRUE(f.ok());
        auto w = co_await f->write_at(std::span<const char>("AB", 2), 4);
        EXPECT_EQ(w.value(), 2U);
        auto w2 = co_await f->write_all_at(std::as_bytes(std::span<const char>("xyz", 3)),
                                           12);  // past the end: a hole
        EXPECT_EQ(w2.value(), 3U);
        char buf[4] = {};
        auto r = co_await f->read_at(std::span<char>(buf), 3);
        EXPECT_EQ(r.value(), 4U);
        char first[2] = {};
        auto s = co_await f->read(std::span<char>(first));  // the position is still 0
        EXPECT_EQ(s.value(), 2U);
        char tail[8] = {};
        auto e = co_await f->read_at(std::span<char>(tail), 13);
        EXPECT_EQ(e.value(), 2U);  // fewer bytes at end of file
        auto past = co_await f->read_at(std::span<char>(tail), 100);
        EXPECT_EQ(past.value(), 0U);
        co_return std::pair{std::string(buf, 4), std::string(first, 2)};
    }(dir / "f"));
    EXPECT_EQ(at, "3AB6");
    EXPECT_EQ(streamed, "01");
    EXPECT_EQ(read_plain(dir / "f"), std::string("0123AB6789\0\0xyz", 15));
}

TEST(File, StreamingReadsReturnTheFileInOrderThenZeroAtEnd) {
    TempDir dir;
    const std::string data = pattern(100'000);
    write_plain(dir / "f", data);
    auto [got, reads] = run([](std::string p) -> Task<std::pair<std::string, int>> {
        auto f = co_await File::open(p);
        EXPECT_TRUE(f.ok());
        std::string out;
        int reads = 0;
        char buf[4096];
        for (;;) {
            auto r = co_await f->read(std::span<char>(buf));
            EXPECT_TRUE(r.ok());
            if (!r || *r == 0) break;
            out.append(buf, *r);
            ++reads;
        }
        auto again = co_await f->read(std::span<char>(buf));  // still at the end
        EXPECT_EQ(again.value(), 0U);
        co_return std::pair{out, reads};
    }(dir / "f"));
    EXPECT_TRUE(got == data);
    EXPECT_EQ(reads, (100'000 + 4095) / 4096);
}

TEST(File, StreamingWritesAppendAtThePositionAndAppendModeWritesAtTheEnd) {
    TempDir dir;
    write_plain(dir / "f", "head-");
    run([](std::string p) -> Task<void> {
        auto f = co_await File::open(p, {.read = false, .append = true});
        EXPECT_TRUE(f.ok());
        EXPECT_EQ((co_await f->write(std::span<const char>("one-", 4))).value(), 4U);
        EXPECT_EQ((co_await f->write_at(std::span<const char>("two", 3), 0)).value(),
                  3U);  // O_APPEND wins
    }(dir / "f"));
    EXPECT_EQ(read_plain(dir / "f"), "head-one-two");
}

TEST(File, FsyncAndDatasyncSucceedOnAWrittenFile) {
    TempDir dir;
    auto [a, b] = run([](std::string p) -> Task<std::pair<bool, bool>> {
        auto f = co_await File::create(p);
        EXPECT_TRUE(f.ok());
        (void)co_await f->write_all(std::span<const char>("durable", 7));
        auto s = co_await f->fsync();
        auto d = co_await f->datasync();
        co_return std::pair{s.ok(), d.ok()};
    }(dir / "f"));
    EXPECT_TRUE(a);
    EXPECT_TRUE(b);
    EXPECT_EQ(read_plain(dir / "f"), "durable");
}

TEST(File, StatReportsSizeTypeModeAndMtimeForFilesAndDirectories) {
    TempDir dir;
    write_plain(dir / "f", std::string(1234, 'x'));
    ::chmod((dir / "f").c_str(), 0640);
    const auto before = std::chrono::system_clock::now() - 60s;
    run([](std::string d, std::chrono::system_clock::time_point before) -> Task<void> {
        auto f = co_await File::open(d + "/f");
        EXPECT_TRUE(f.ok());
        auto st = co_await f->stat();
        EXPECT_TRUE(st.ok()) << st.error().message();
        EXPECT_EQ(st->size, 1234U);
        EXPECT_TRUE(st->is_regular());
        EXPECT_FALSE(st->is_dir());
        EXPECT_EQ(st->mode, 0640U);
        EXPECT_GT(st->mtime, before);
        EXPECT_LT(st->mtime, std::chrono::system_clock::now() + 60s);

        auto by_path = co_await fs::stat(d + "/f");
        EXPECT_EQ(by_path.value().size, 1234U);
        auto ds = co_await fs::stat(d);
        EXPECT_TRUE(ds.value().is_dir());
        EXPECT_EQ(ds->type, dally::FileType::directory);
        auto missing = co_await fs::stat(d + "/missing");
        EXPECT_EQ(missing.error(), enoent);
    }(dir.path(), before));
}

TEST(Fs, RenameMovesAFileAndReplacesAnExistingTarget) {
    TempDir dir;
    write_plain(dir / "a", "A");
    write_plain(dir / "b", "B");
    auto [first, missing] = run([](std::string d) -> Task<std::pair<bool, std::error_code>> {
        auto r = co_await fs::rename(d + "/a", d + "/b");
        auto m = co_await fs::rename(d + "/a", d + "/c");
        co_return std::pair{r.ok(), m.error()};
    }(dir.path()));
    EXPECT_TRUE(first);
    EXPECT_EQ(missing, enoent);
    EXPECT_FALSE(std::filesystem::exists(dir / "a"));
    EXPECT_EQ(read_plain(dir / "b"), "A");
}

TEST(Fs, UnlinkRemovesAFileThenReportsENOENT) {
    TempDir dir;
    write_plain(dir / "f", "x");
    ::mkdir((dir / "d").c_str(), 0755);
    auto [first, second, on_dir] =
        run([](std::string d) -> Task<std::tuple<bool, std::error_code, std::error_code>> {
            auto a = co_await fs::unlink(d + "/f");
            auto b = co_await fs::unlink(d + "/f");
            auto c = co_await fs::unlink(d + "/d");
            co_return std::tuple{a.ok(), b.error(), c.error()};
        }(dir.path()));
    EXPECT_TRUE(first);
    EXPECT_EQ(second, enoent);
    EXPECT_EQ(on_dir, std::error_condition(std::errc::is_a_directory));
    EXPECT_FALSE(std::filesystem::exists(dir / "f"));
}

TEST(Fs, MkdirCreatesADirectoryThenReportsEEXISTAndRmdirRemovesIt) {
    TempDir dir;
    auto [made, again, no_parent] =
        run([](std::string d) -> Task<std::tuple<bool, std::error_code, std::error_code>> {
            auto a = co_await fs::mkdir(d + "/sub", 0700);
            auto b = co_await fs::mkdir(d + "/sub");
            auto c = co_await fs::mkdir(d + "/x/y");
            co_return std::tuple{a.ok(), b.error(), c.error()};
        }(dir.path()));
    EXPECT_TRUE(made);
    EXPECT_EQ(again, std::error_condition(std::errc::file_exists));
    EXPECT_EQ(no_parent, enoent);
    struct stat st {};
    ASSERT_EQ(::stat((dir / "sub").c_str(), &st), 0);
    EXPECT_TRUE(S_ISDIR(st.st_mode));
    EXPECT_EQ(st.st_mode & 0777, 0700U);
    auto removed = run(
        [](std::string p) -> Task<bool> { co_return (co_await fs::rmdir(p)).ok(); }(dir / "sub"));
    EXPECT_TRUE(removed);
    EXPECT_FALSE(std::filesystem::exists(dir / "sub"));
}

TEST(Fs, ListDirReturnsEveryEntryWithItsTypeAndNoDotEntries) {
    TempDir dir;
    write_plain(dir / "file", "x");
    ::mkdir((dir / "sub").c_str(), 0755);
    ::symlink("file", (dir / "link").c_str());
    auto r = run(fs::list_dir(dir.path()));
    ASSERT_TRUE(r.ok()) << r.error().message();
    auto entries = *r;
    std::sort(entries.begin(), entries.end(), [](auto& a, auto& b) { return a.name < b.name; });
    ASSERT_EQ(entries.size(), 3U);
    EXPECT_EQ(entries[0].name, "file");
    EXPECT_EQ(entries[0].type, dally::FileType::regular);
    EXPECT_EQ(entries[1].name, "link");
    EXPECT_EQ(entries[1].type, dally::FileType::symlink);
    EXPECT_EQ(entries[2].name, "sub");
    EXPECT_EQ(entries[2].type, dally::FileType::directory);
    EXPECT_EQ(run(fs::list_dir(dir / "missing")).error(), enoent);
    EXPECT_EQ(run(fs::list_dir(dir / "file")).error(),
              std::error_condition(std::errc::not_a_directory));
    EXPECT_EQ(run(fs::list_dir(std::string("a\0b", 3))).error(),
              std::error_condition(std::errc::invalid_argument));
}

TEST(Fs, ListDirBlockingGivesTheSameEntriesOnAPlainThread) {
    TempDir dir;
    write_plain(dir / "file", "x");
    ::mkdir((dir / "sub").c_str(), 0755);
    auto r = fs::list_dir_blocking(dir.path());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->size(), 2U);
    EXPECT_EQ(fs::list_dir_blocking(dir / "missing").error(), enoent);
}

Task<void> occupy_pool_thread(const std::shared_future<void>& gate) {
    co_await dally::spawn_blocking([&gate] { gate.wait(); });
}

Task<void> list_behind_busy_pool(const std::string& path, unsigned busy,
                                 const std::shared_future<void>& gate,
                                 std::promise<void>& open_gate) {
    std::vector<dally::JoinHandle<void>> occupiers;
    for (unsigned i = 0; i < busy; ++i) occupiers.push_back(dally::spawn(occupy_pool_thread(gate)));
    auto listing = dally::spawn(fs::list_dir(path));
    // The runtime is not blocked: this task keeps running timers meanwhile.
    for (int i = 0; i < 20; ++i) EXPECT_TRUE(co_await dally::sleep_for(1ms));
    EXPECT_FALSE(listing.done()) << "listed without a free pool thread";
    open_gate.set_value();
    auto r = co_await listing;
    EXPECT_TRUE(r.ok()) << r.error().message();
    EXPECT_EQ(r->size(), 1U);
    for (auto& h : occupiers) co_await h;
}

TEST(Fs, ListDirRunsOnTheBlockingPoolWhileItsRuntimeKeepsRunning) {
    TempDir dir;
    write_plain(dir / "only", "x");
    // Every pool thread is kept busy behind a gate, and no more may start: the listing can
    // only run once the gate opens, so if it completes before, it did not use the pool.
    const unsigned busy = std::max(1U, dally::blocking_pool_threads());
    dally::configure_blocking_pool({.max_threads = busy});
    struct RestorePool {
        ~RestorePool() { dally::configure_blocking_pool({}); }
    } restore;
    std::promise<void> open_gate;
    const std::shared_future<void> gate = open_gate.get_future().share();
    const std::string path = dir.path();
    Runtime rt;
    rt.block_on(list_behind_busy_pool(path, busy, gate, open_gate));
}

TEST(File, OpeningADirectoryForWritingReturnsEISDIR) {
    TempDir dir;
    auto r = run([](std::string p) -> Task<dally::Result<File>> {
        co_return co_await File::open(p, {.write = true});
    }(dir.path()));
    EXPECT_EQ(r.error(), std::error_condition(std::errc::is_a_directory));
}

TEST(File, ExclusiveCreateOfAnExistingFileReturnsEEXIST) {
    TempDir dir;
    write_plain(dir / "f", "keep");
    auto r = run([](std::string p) -> Task<dally::Result<File>> {
        co_return co_await File::open(p, {.write = true, .create = true, .exclusive = true});
    }(dir / "f"));
    EXPECT_EQ(r.error(), std::error_condition(std::errc::file_exists));
    EXPECT_EQ(read_plain(dir / "f"), "keep");
}

TEST(File, InconsistentOptionsOrANulInThePathReturnEINVALWithoutTouchingTheDisk) {
    TempDir dir;
    auto [no_access, create_ro, nul] = run(
        [](std::string d) -> Task<std::tuple<std::error_code, std::error_code, std::error_code>> {
            auto a = co_await File::open(d + "/a", {.read = false});
            auto b = co_await File::open(d + "/b", {.create = true});
            auto c =
                co_await File::open(d + std::string("/c\0d", 4), {.write = true, .create = true});
            co_return std::tuple{a.error(), b.error(), c.error()};
        }(dir.path()));
    const auto einval = std::error_condition(std::errc::invalid_argument);
    EXPECT_EQ(no_access, einval);
    EXPECT_EQ(create_ro, einval);
    EXPECT_EQ(nul, einval);
    EXPECT_TRUE(fs::list_dir_blocking(dir.path())->empty());
}

TEST(File, ReadAfterCloseThroughTheRingReturnsEBADF) {
    TempDir dir;
    write_plain(dir / "f", "x");
    auto [closed, open_after, err] =
        run([](std::string p) -> Task<std::tuple<bool, bool, std::error_code>> {
            auto f = co_await File::open(p);
            auto c = co_await f->close();
            char buf[4];
            auto r = co_await f->read(std::span<char>(buf));
            co_return std::tuple{c.ok(), f->is_open(), r.error()};
        }(dir / "f"));
    EXPECT_TRUE(closed);
    EXPECT_FALSE(open_after);
    EXPECT_EQ(err, std::error_condition(std::errc::bad_file_descriptor));
}

TEST(Fs, WriteFileThenReadFileRoundTripsAndReadFileOfAMissingPathIsENOENT) {
    TempDir dir;
    auto [back, missing] = run([](std::string d) -> Task<std::pair<std::string, std::error_code>> {
        auto w = co_await fs::write_file(d + "/f", pattern(70'000));
        EXPECT_TRUE(w.ok());
        auto r = co_await fs::read_file(d + "/f");
        auto m = co_await fs::read_file(d + "/missing");
        co_return std::pair{r.value(), m.error()};
    }(dir.path()));
    EXPECT_TRUE(back == pattern(70'000));
    EXPECT_EQ(missing, enoent);
}

TEST(File, ReadAllReadsFilesThatReportSizeZero) {
    // procfs reports size 0; read_all must keep reading until end of file.
    auto r = run([]() -> Task<dally::Result<std::string>> {
        co_return co_await fs::read_file("/proc/self/status");
    }());
    ASSERT_TRUE(r.ok()) << r.error().message();
    EXPECT_NE(r->find("Name:"), std::string::npos);
}

TEST(File, TimeoutAroundFileOpsThatCompleteInTimeStaysOk) {
    TempDir dir;
    write_plain(dir / "f", "0123456789");
    run([](std::string d) -> Task<void> {
        auto f = co_await dally::timeout(5s, File::open(d + "/f", {.write = true}));
        EXPECT_TRUE(f.ok());
        char buf[10];
        auto r = co_await dally::timeout(5s, f->read_at(std::span<char>(buf), 0));
        EXPECT_TRUE(r.ok());
        EXPECT_EQ(*r, 10U);
        EXPECT_FALSE(r.timed_out());
        auto w = co_await dally::timeout(5s, f->write_all(std::span<const char>("abc", 3)));
        EXPECT_EQ(w.value(), 3U);
        auto s = co_await dally::timeout(5s, f->stat());
        EXPECT_EQ(s.value().size, 10U);
        auto m = co_await dally::timeout(5s, fs::mkdir(d + "/sub"));
        EXPECT_TRUE(m.ok());
        EXPECT_TRUE((co_await dally::timeout(5s, f->fsync())).ok());
    }(dir.path()));
    EXPECT_EQ(read_plain(dir / "f"), "abc3456789");
}

// A foreign, eager coroutine type (not a dally::Task): it starts at once on the calling
// thread, where no runtime runs, and keeps the exception that escapes it.
struct Eager {
    struct State {
        std::exception_ptr error;
        bool done = false;
    };
    std::shared_ptr<State> state;
    struct promise_type {
        std::shared_ptr<State> state = std::make_shared<State>();
        Eager get_return_object() { return Eager{state}; }
        std::suspend_never initial_suspend() noexcept { return {}; }
        std::suspend_never final_suspend() noexcept { return {}; }
        void return_void() noexcept { state->done = true; }
        void unhandled_exception() noexcept {
            state->error = std::current_exception();
            state->done = true;
        }
    };
};

Eager open_without_runtime(std::string p) { (void)co_await File::open(p); }
Eager read_without_runtime(File& f) {
    char buf[4];
    (void)co_await f.read(std::span<char>(buf));
}

std::string no_runtime_message(const Eager& e) {
    if (!e.state->error) return "(no exception)";
    try {
        std::rethrow_exception(e.state->error);
    } catch (const dally::NoRuntimeError& err) {
        return err.what();
    } catch (const std::exception& err) {
        return std::string("(wrong exception type) ") + err.what();
    }
    return "(unreachable)";
}

TEST(File, FileOpsWhereNoRuntimeRunsThrowNoRuntimeErrorNamingTheOperation) {
    TempDir dir;
    write_plain(dir / "f", "x");
    const bool stdin_open = ::fcntl(STDIN_FILENO, F_GETFD) != -1;
    Eager e = open_without_runtime(dir / "f");
    ASSERT_TRUE(e.state->done);
    std::string what = no_runtime_message(e);
    EXPECT_NE(what.find("File::open"), std::string::npos) << what;
    EXPECT_NE(what.find("resume_on"), std::string::npos) << what;
    // The failed open owns no descriptor: it must not close one (0, its initial result).
    if (stdin_open) {
        EXPECT_NE(::fcntl(STDIN_FILENO, F_GETFD), -1) << "stdin was closed";
    }

    File f(::open((dir / "f").c_str(), O_RDONLY | O_CLOEXEC));
    Eager r = read_without_runtime(f);
    ASSERT_TRUE(r.state->done);
    EXPECT_NE(no_runtime_message(r).find("File::read"), std::string::npos) << no_runtime_message(r);
}

}  // namespace

// common/sqlite.hpp: a small checked wrapper over sqlite3.h, shared by the apps.
//
//     Database db("mud.db");
//     db.stmt("INSERT INTO kv (k, v) VALUES (?, ?)").bind("motd", "hello").exec();
//     auto v = db.stmt("SELECT v FROM kv WHERE k = ?").bind("motd").fetch_one<std::string>();
//
// Every SQLite return code is checked; failures throw sqlite::Error with SQLite's message
// and the SQL. A connection (and its statements) is for one thread at a time: it is opened
// with SQLITE_OPEN_NOMUTEX, so SQLite itself does not lock it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <tuple>
#include <type_traits>
#include <utility>
#include <vector>

struct sqlite3;
struct sqlite3_stmt;

namespace dally::apps::sqlite {

// A failed SQLite call: what() is "<SQLite's message> (<code name>) in: <SQL>".
class Error : public std::runtime_error {
  public:
    Error(int code, std::string_view message, std::string sql);

    // The extended result code (SQLITE_CONSTRAINT_PRIMARYKEY, SQLITE_BUSY, ...).
    int code() const noexcept { return m_code; }
    // The primary result code (SQLITE_CONSTRAINT for every constraint violation).
    int primary_code() const noexcept { return m_code & 0xff; }
    // The statement or script that failed, in full ("open <path>" for the constructor).
    const std::string& sql() const noexcept { return m_sql; }

  private:
    int m_code;
    std::string m_sql;
};

struct Options {
    // How long a statement waits for another connection's lock before failing with
    // SQLITE_BUSY, in milliseconds; 0 fails at once.
    int busy_timeout_ms = 5000;
    // journal_mode=WAL and synchronous=NORMAL: readers and the writer do not block each
    // other and a commit does not fsync (a power cut can lose the last commits, never
    // corrupt the file). The mode is stored in the file. False: SQLite's defaults.
    bool wal = true;
    // Enforce REFERENCES clauses (SQLite leaves them off unless asked, per connection).
    bool foreign_keys = true;
    // Create the file if it does not exist; false: the constructor throws instead.
    bool create = true;
};

class Database;

// One prepared statement. Move-only; finalized by the destructor. Can be destroyed after
// its Database (the connection closes when its last statement is finalized).
class Statement {
  public:
    Statement(Statement&& other) noexcept;
    Statement& operator=(Statement&& other) noexcept;
    ~Statement();

    // Binds all of the statement's parameters, in order, and resets it first so that a
    // statement can be rebound and rerun. Takes integers (and bool), floating point,
    // strings (std::string, string_view, const char*; copied by SQLite), std::nullopt,
    // std::optional<T> (empty = NULL) and std::span<const std::byte> (a blob, copied).
    // Throws if the number of values differs from the number of parameters.
    template <class... Ts>
    Statement& bind(const Ts&... values) & {
        bind_all(values...);
        return *this;
    }
    template <class... Ts>
    Statement&& bind(const Ts&... values) && {
        bind_all(values...);
        return std::move(*this);
    }

    // Runs the statement to its next row: true if a row is available to the getters,
    // false when it is done.
    bool step();
    // Steps to completion, ignoring any rows, then resets.
    void exec();
    // Rewinds the statement so that it can run again, keeping its bindings; also ends the
    // read it may hold open, which in WAL mode would keep checkpoints from finishing.
    void reset() noexcept;

    // Column getters for the current row (step() returned true), 0-based. They throw if
    // there is no row or no such column. SQLite's conversions apply: NULL reads as 0,
    // 0.0, "" or an empty blob; use is_null() or get<std::optional<T>>() to tell.
    std::int64_t int64(int column) const;
    double real(int column) const;
    std::string text(int column) const;
    std::vector<std::byte> blob(int column) const;
    bool is_null(int column) const;
    int column_count() const noexcept;

    // One column as T: bool, an integer type (throws if the value does not fit), a
    // floating-point type, std::string, std::vector<std::byte> or std::optional of these.
    template <class T>
    T get(int column) const;

    // The first row as T (or as std::tuple<T, Ts...> for several columns), then resets;
    // std::nullopt if there is no row.
    template <class T, class... Ts>
    auto fetch_one()
        -> std::optional<std::conditional_t<sizeof...(Ts) == 0, T, std::tuple<T, Ts...>>>;
    // Calls f(T0, T1, ...) with every row's columns in order, then resets (also when f
    // throws).
    template <class... Ts, class F>
    void for_each(F&& f);

  private:
    friend class Database;
    Statement(sqlite3* db, std::string_view sql);

    template <class... Ts>
    void bind_all(const Ts&... values);
    template <class T>
    void bind_at(int index, const T& value);
    template <class... Ts, std::size_t... Is>
    std::tuple<Ts...> read_row(std::index_sequence<Is...>) const;

    void begin_bind(int count);
    void bind_null(int index);
    void bind_int64(int index, std::int64_t value);
    void bind_double(int index, double value);
    void bind_text(int index, std::string_view value);
    void bind_blob(int index, std::span<const std::byte> value);
    void check_bind(int rc, int index);
    void check_column(int column) const;
    [[noreturn]] void throw_error(int rc) const;
    [[noreturn]] void throw_misuse(const std::string& message) const;
    [[noreturn]] static void throw_range(int column, std::int64_t value);

    sqlite3_stmt* m_stmt = nullptr;
    bool m_has_row = false;
};

class Transaction;

// One connection to a database file. Move-only; closed by the destructor.
class Database {
  public:
    // Opens (creating unless options.create is false) the file read-write and applies the
    // options. Throws Error naming the file.
    explicit Database(const std::filesystem::path& file, const Options& options = {});
    Database(Database&& other) noexcept;
    Database& operator=(Database&& other) noexcept;
    ~Database();

    // Runs a script of any number of ';'-separated statements (schema, pragmas); rows
    // they return are ignored.
    void exec(std::string_view sql);
    // Prepares exactly one statement (throws if `sql` holds more, or none).
    Statement stmt(std::string_view sql);
    // BEGIN IMMEDIATE: takes the write lock now (waiting up to busy_timeout_ms), so the
    // transaction cannot fail later for want of it.
    Transaction transaction();

    int user_version();
    void set_user_version(int version);
    // Brings the schema to version migrations.size(): from the file's user_version v, runs
    // migrations[v], migrations[v + 1], ..., each in its own transaction that also sets the
    // new user_version. Returns the version the file had. A file whose version is newer than
    // migrations.size() is left untouched: the caller refuses it (it knows what to call
    // itself in the message).
    int migrate(std::span<const std::string_view> migrations);
    // Of this connection's most recent successful INSERT; 0 if none.
    std::int64_t last_insert_rowid() const noexcept;
    // Rows changed by this connection's most recent INSERT, UPDATE or DELETE.
    std::int64_t changes() const noexcept;

    // For calls this wrapper does not cover; still owned by the Database.
    sqlite3* handle() const noexcept { return m_db; }

  private:
    sqlite3* m_db = nullptr;
};

// A transaction from BEGIN IMMEDIATE until commit(); rolled back by the destructor if it
// was not committed (an exception left the scope, or commit() threw). Not movable: keep
// it in the scope that does the work.
class Transaction {
  public:
    explicit Transaction(Database& db);
    Transaction(const Transaction&) = delete;
    Transaction& operator=(const Transaction&) = delete;
    ~Transaction();

    void commit();

  private:
    sqlite3* m_db;
    bool m_done = false;
};

// ---- templates ----

namespace detail {
template <class T>
inline constexpr bool is_optional = false;
template <class T>
inline constexpr bool is_optional<std::optional<T>> = true;
template <class T>
inline constexpr bool always_false = false;
}  // namespace detail

template <class... Ts>
void Statement::bind_all(const Ts&... values) {
    begin_bind(static_cast<int>(sizeof...(Ts)));
    int index = 1;
    (bind_at(index++, values), ...);
}

template <class T>
void Statement::bind_at(int index, const T& value) {
    if constexpr (std::is_same_v<T, std::nullopt_t>) {
        bind_null(index);
    } else if constexpr (detail::is_optional<T>) {
        if (value) {
            bind_at(index, *value);
        } else {
            bind_null(index);
        }
    } else if constexpr (std::is_integral_v<T>) {
        static_assert(sizeof(T) < sizeof(std::int64_t) || std::is_signed_v<T>,
                      "SQLite integers are signed 64-bit: convert unsigned 64-bit values");
        bind_int64(index, static_cast<std::int64_t>(value));
    } else if constexpr (std::is_floating_point_v<T>) {
        bind_double(index, static_cast<double>(value));
    } else if constexpr (std::is_convertible_v<const T&, std::string_view>) {
        bind_text(index, std::string_view(value));
    } else if constexpr (std::is_convertible_v<const T&, std::span<const std::byte>>) {
        bind_blob(index, std::span<const std::byte>(value));
    } else {
        static_assert(detail::always_false<T>, "no SQLite binding for this type");
    }
}

template <class T>
T Statement::get(int column) const {
    if constexpr (detail::is_optional<T>) {
        if (is_null(column)) return std::nullopt;
        return get<typename T::value_type>(column);
    } else if constexpr (std::is_same_v<T, bool>) {
        return int64(column) != 0;
    } else if constexpr (std::is_integral_v<T>) {
        const std::int64_t value = int64(column);
        if (!std::in_range<T>(value)) throw_range(column, value);
        return static_cast<T>(value);
    } else if constexpr (std::is_floating_point_v<T>) {
        return static_cast<T>(real(column));
    } else if constexpr (std::is_same_v<T, std::string>) {
        return text(column);
    } else if constexpr (std::is_same_v<T, std::vector<std::byte>>) {
        return blob(column);
    } else {
        static_assert(detail::always_false<T>, "no SQLite column getter for this type");
    }
}

template <class... Ts, std::size_t... Is>
std::tuple<Ts...> Statement::read_row(std::index_sequence<Is...>) const {
    // Braced initialisation reads the columns left to right.
    return std::tuple<Ts...>{get<Ts>(static_cast<int>(Is))...};
}

template <class T, class... Ts>
auto Statement::fetch_one()
    -> std::optional<std::conditional_t<sizeof...(Ts) == 0, T, std::tuple<T, Ts...>>> {
    std::optional<std::conditional_t<sizeof...(Ts) == 0, T, std::tuple<T, Ts...>>> row;
    try {
        if (step()) {
            if constexpr (sizeof...(Ts) == 0) {
                row = get<T>(0);
            } else {
                row = read_row<T, Ts...>(std::index_sequence_for<T, Ts...>{});
            }
        }
    } catch (...) {
        reset();
        throw;
    }
    reset();
    return row;
}

template <class... Ts, class F>
void Statement::for_each(F&& f) {
    try {
        while (step()) {
            std::apply(f, read_row<Ts...>(std::index_sequence_for<Ts...>{}));
        }
    } catch (...) {
        reset();
        throw;
    }
    reset();
}

}  // namespace dally::apps::sqlite

#include "store.hpp"

#include <dally/web/json.hpp>

#include <simdjson.h>

#include <array>
#include <chrono>
#include <string>
#include <utility>

namespace mud {

namespace sqlite = dally::apps::sqlite;

namespace {

// The schema, one script per version: migrations[i] takes a database from user_version i
// to i + 1. Append new versions; never edit a released one. A name's key is its ASCII
// lowercase form (names are ASCII; see the game's name rules), which makes lookups and
// uniqueness case-insensitive. inventory and channels hold JSON arrays of strings.
constexpr std::array<std::string_view, 1> migrations = {
    // 1: accounts and their characters.
    R"sql(
CREATE TABLE accounts (
    name_key      TEXT PRIMARY KEY NOT NULL,
    name          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    admin         INTEGER NOT NULL DEFAULT 0,
    banned        INTEGER NOT NULL DEFAULT 0,
    ban_reason    TEXT NOT NULL DEFAULT '',
    created_at    INTEGER NOT NULL,
    last_login    INTEGER NOT NULL DEFAULT 0
) STRICT;
CREATE TABLE characters (
    name_key  TEXT PRIMARY KEY NOT NULL REFERENCES accounts (name_key) ON DELETE CASCADE,
    room      TEXT NOT NULL DEFAULT '',
    hp        INTEGER NOT NULL,
    max_hp    INTEGER NOT NULL,
    inventory TEXT NOT NULL DEFAULT '[]',
    channels  TEXT NOT NULL DEFAULT '[]',
    kills     INTEGER NOT NULL DEFAULT 0,
    deaths    INTEGER NOT NULL DEFAULT 0,
    saved_at  INTEGER NOT NULL
) STRICT;
)sql",
};

std::string name_key(std::string_view name) {
    std::string key(name);
    for (char& c : key) {
        if (c >= 'A' && c <= 'Z') c = static_cast<char>(c - 'A' + 'a');
    }
    return key;
}

std::int64_t unix_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

// Every sqlite::Error leaves the Store as a StoreError (the header's promise).
template <class F>
auto guarded(F&& f) -> decltype(f()) {
    try {
        return f();
    } catch (const sqlite::Error& e) {
        throw StoreError(std::string("store: ") + e.what());
    }
}

std::string to_json_array(const std::vector<std::string>& strings) {
    std::string out = "[";
    for (const std::string& s : strings) {
        if (out.size() > 1) out += ',';
        // Escapes, and replaces invalid UTF-8 with U+FFFD: simdjson would refuse to read
        // the character back otherwise.
        dally::web::append_json_string(out, s);
    }
    out += ']';
    return out;
}

std::vector<std::string> from_json_array(const std::string& json, std::string_view name,
                                         std::string_view column) {
    auto fail = [&](simdjson::error_code error) {
        return StoreError("store: character " + std::string(name) + ": bad " + std::string(column) +
                          " JSON: " + simdjson::error_message(error));
    };
    simdjson::dom::parser parser;
    simdjson::dom::array array;
    if (auto error = parser.parse(json).get(array)) throw fail(error);
    std::vector<std::string> out;
    for (simdjson::dom::element element : array) {
        std::string_view s;
        if (auto error = element.get(s)) throw fail(error);
        out.emplace_back(s);
    }
    return out;
}

sqlite::Database open_database(const std::filesystem::path& file) {
    return guarded([&] { return sqlite::Database(file); });
}

}  // namespace

Store::Store(const std::filesystem::path& file) : m_db(open_database(file)) {
    guarded([&] {
        if (const int version = m_db.migrate(migrations); version > current_schema_version()) {
            throw StoreError("store: " + file.string() + " has schema version " +
                             std::to_string(version) + ", newer than this program's " +
                             std::to_string(current_schema_version()) + "; use a newer mud_server");
        }
    });
}

int Store::current_schema_version() noexcept { return static_cast<int>(migrations.size()); }

int Store::schema_version() {
    return guarded([&] { return m_db.user_version(); });
}

bool Store::create_account(const AccountRecord& account, const CharacterRecord& character) {
    return guarded([&] {
        const std::string key = name_key(account.name);
        auto tx = m_db.transaction();
        // ON CONFLICT DO NOTHING rather than catching the constraint error: only a taken
        // name is an expected outcome.
        m_db.stmt(R"sql(
            INSERT INTO accounts (name_key, name, password_hash, admin, banned, ban_reason,
                                  created_at, last_login)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (name_key) DO NOTHING)sql")
            .bind(key, account.name, account.password_hash, account.admin, account.banned,
                  account.ban_reason, account.created_at, account.last_login)
            .exec();
        if (m_db.changes() == 0) return false;
        m_db.stmt(R"sql(
            INSERT INTO characters (name_key, room, hp, max_hp, inventory, channels, kills,
                                    deaths, saved_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?))sql")
            .bind(key, character.room, character.hp, character.max_hp,
                  to_json_array(character.inventory), to_json_array(character.channels),
                  character.kills, character.deaths, unix_now())
            .exec();
        tx.commit();
        return true;
    });
}

std::optional<AccountRecord> Store::find_account(std::string_view name) {
    return guarded([&]() -> std::optional<AccountRecord> {
        auto select = m_db.stmt(R"sql(
            SELECT name, password_hash, admin, banned, ban_reason, created_at, last_login
            FROM accounts WHERE name_key = ?)sql");
        const auto row = select.bind(name_key(name))
                             .fetch_one<std::string, std::string, bool, bool, std::string,
                                        std::int64_t, std::int64_t>();
        if (!row) return std::nullopt;
        auto [display, hash, admin, banned, reason, created_at, last_login] = *row;
        return AccountRecord{
            .name = std::move(display),
            .password_hash = std::move(hash),
            .admin = admin,
            .banned = banned,
            .ban_reason = std::move(reason),
            .created_at = created_at,
            .last_login = last_login,
        };
    });
}

std::optional<CharacterRecord> Store::load_character(std::string_view name) {
    return guarded([&]() -> std::optional<CharacterRecord> {
        auto select = m_db.stmt(R"sql(
            SELECT a.name, c.room, c.hp, c.max_hp, c.inventory, c.channels, c.kills, c.deaths
            FROM characters c JOIN accounts a USING (name_key)
            WHERE name_key = ?)sql");
        select.bind(name_key(name));
        if (!select.step()) return std::nullopt;
        CharacterRecord character{
            .name = select.text(0),
            .room = select.text(1),
            .hp = select.get<int>(2),
            .max_hp = select.get<int>(3),
            .inventory = from_json_array(select.text(4), name, "inventory"),
            .channels = from_json_array(select.text(5), name, "channels"),
            .kills = select.get<int>(6),
            .deaths = select.get<int>(7),
        };
        select.reset();
        return character;
    });
}

void Store::save_characters(std::span<const CharacterRecord> characters) {
    guarded([&] {
        const std::int64_t now = unix_now();
        auto tx = m_db.transaction();
        auto upsert = m_db.stmt(R"sql(
            INSERT INTO characters (name_key, room, hp, max_hp, inventory, channels, kills,
                                    deaths, saved_at)
            VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)
            ON CONFLICT (name_key) DO UPDATE SET
                room = excluded.room, hp = excluded.hp, max_hp = excluded.max_hp,
                inventory = excluded.inventory, channels = excluded.channels,
                kills = excluded.kills, deaths = excluded.deaths, saved_at = excluded.saved_at
            )sql");
        for (const CharacterRecord& c : characters) {
            upsert
                .bind(name_key(c.name), c.room, c.hp, c.max_hp, to_json_array(c.inventory),
                      to_json_array(c.channels), c.kills, c.deaths, now)
                .exec();
        }
        tx.commit();
    });
}

void Store::set_last_login(std::string_view name, std::int64_t when) {
    guarded([&] {
        m_db.stmt("UPDATE accounts SET last_login = ? WHERE name_key = ?")
            .bind(when, name_key(name))
            .exec();
    });
}

bool Store::set_banned(std::string_view name, bool banned, std::string_view reason) {
    return guarded([&] {
        m_db.stmt("UPDATE accounts SET banned = ?, ban_reason = ? WHERE name_key = ?")
            .bind(banned, reason, name_key(name))
            .exec();
        return m_db.changes() > 0;
    });
}

bool Store::set_admin(std::string_view name, bool admin) {
    return guarded([&] {
        m_db.stmt("UPDATE accounts SET admin = ? WHERE name_key = ?")
            .bind(admin, name_key(name))
            .exec();
        return m_db.changes() > 0;
    });
}

std::int64_t Store::account_count() {
    return guarded([&] {
        return m_db.stmt("SELECT count(*) FROM accounts").fetch_one<std::int64_t>().value_or(0);
    });
}

}  // namespace mud

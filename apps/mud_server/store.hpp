// store.hpp: the MUD's persistence in SQLite: accounts and their characters (one each).
// Synchronous and single-threaded: the server runs one Store on its own database thread
// (see services.hpp); tests use it directly. The schema and its migrations live in
// store.cpp, versioned with PRAGMA user_version. Every SQLite error throws StoreError with
// SQLite's message.
#pragma once

#include "common/sqlite.hpp"

#include <cstdint>
#include <filesystem>
#include <optional>
#include <span>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

namespace mud {

class StoreError : public std::runtime_error {
public:
    using std::runtime_error::runtime_error;
};

struct AccountRecord {
    std::string name;            // display form, "Alice"; unique case-insensitively
    std::string password_hash;   // crypto_pwhash_str output
    bool admin = false;
    bool banned = false;
    std::string ban_reason;
    std::int64_t created_at = 0; // unix seconds
    std::int64_t last_login = 0; // unix seconds; 0 = never
};

struct CharacterRecord {
    std::string name;                    // same as the account's
    std::string room;                    // room id ("" = the world's start room)
    int hp = 20;
    int max_hp = 20;
    std::vector<std::string> inventory;  // item template ids, in order
    std::vector<std::string> channels;   // joined channels
    int kills = 0;
    int deaths = 0;
};

class Store {
public:
    // Opens (creating if needed) the database file, sets WAL mode and a busy timeout, and
    // migrates the schema to the current version. Throws StoreError (also when the file's
    // schema is newer than this program knows).
    explicit Store(const std::filesystem::path& file);

    static int current_schema_version() noexcept;
    int schema_version();

    // Creates the account and its character in one transaction. False if the name is
    // taken (case-insensitively); throws on other errors.
    bool create_account(const AccountRecord& account, const CharacterRecord& character);
    // Case-insensitive lookup.
    std::optional<AccountRecord> find_account(std::string_view name);
    std::optional<CharacterRecord> load_character(std::string_view name);
    // Upserts all of them in one transaction (autosave, logout, shutdown).
    void save_characters(std::span<const CharacterRecord> characters);
    void set_last_login(std::string_view name, std::int64_t when);
    // False if there is no such account.
    bool set_banned(std::string_view name, bool banned, std::string_view reason);
    bool set_admin(std::string_view name, bool admin);
    std::int64_t account_count();

private:
    dally::apps::sqlite::Database m_db;
};

}  // namespace mud

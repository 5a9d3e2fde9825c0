// An incremental UTF-8 validator (RFC 3629) for dally::web. Internal.
//
// Text messages arrive in fragments and TCP chunks, cut anywhere, even inside a character.
// Utf8Validator keeps the state of the character in progress between feed() calls, so a
// WebSocket can fail a text message (1007) at the first bad byte instead of after buffering
// the whole message. It rejects what RFC 3629 forbids: overlong forms, UTF-16 surrogates
// (U+D800..U+DFFF), code points above U+10FFFF, stray continuation bytes and the bytes
// C0, C1, F5..FF.
//
//     detail::Utf8Validator v;
//     if (!v.feed(chunk1) || !v.feed(chunk2) || !v.complete()) fail(1007);
#pragma once

#include <cstdint>
#include <string_view>

namespace dally::web::detail {

class Utf8Validator {
  public:
    // Checks the next bytes. False once the input so far cannot be the start of valid
    // UTF-8; the failure is sticky until reset().
    bool feed(std::string_view bytes) noexcept;
    // True if the input so far is valid and does not end inside a character.
    bool complete() const noexcept { return m_need == 0 && !m_failed; }
    bool failed() const noexcept { return m_failed; }
    // Starts over for a new message.
    void reset() noexcept { *this = Utf8Validator{}; }

  private:
    std::uint8_t m_need = 0;   // continuation bytes still expected for this character
    std::uint8_t m_lo = 0x80;  // range allowed for the next continuation byte (narrower
    std::uint8_t m_hi = 0xBF;  // after E0, ED, F0 and F4, which is how overlongs,
                               // surrogates and > U+10FFFF are caught)
    bool m_failed = false;
};

// True if `bytes` is complete, valid UTF-8.
bool is_valid_utf8(std::string_view bytes) noexcept;

}  // namespace dally::web::detail

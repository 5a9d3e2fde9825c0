#include "dally/web/detail/utf8.hpp"

#include <cstddef>
#include <cstring>

namespace dally::web::detail {

bool Utf8Validator::feed(std::string_view bytes) noexcept {
    if (m_failed) return false;
    const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
    const unsigned char* end = p + bytes.size();
    while (p != end) {
        if (m_need == 0) {
            // Text is mostly ASCII: skip it eight bytes at a time.
            while (end - p >= 8) {
                std::uint64_t word;
                std::memcpy(&word, p, sizeof word);
                if ((word & 0x8080808080808080ULL) != 0) break;
                p += 8;
            }
            if (p == end) break;
            const unsigned char b = *p++;
            if (b < 0x80) continue;
            m_lo = 0x80;
            m_hi = 0xBF;
            if (b >= 0xC2 && b <= 0xDF) {
                m_need = 1;
            } else if (b >= 0xE0 && b <= 0xEF) {
                m_need = 2;
                if (b == 0xE0) m_lo = 0xA0;  // below: overlong (< U+0800)
                if (b == 0xED) m_hi = 0x9F;  // above: surrogates U+D800..U+DFFF
            } else if (b >= 0xF0 && b <= 0xF4) {
                m_need = 3;
                if (b == 0xF0) m_lo = 0x90;  // below: overlong (< U+10000)
                if (b == 0xF4) m_hi = 0x8F;  // above: > U+10FFFF
            } else {
                // 80..BF without a lead byte, C0/C1 (overlong ASCII), F5..FF (beyond U+10FFFF).
                m_failed = true;
                return false;
            }
        } else {
            const unsigned char b = *p++;
            if (b < m_lo || b > m_hi) {
                m_failed = true;
                return false;
            }
            --m_need;
            m_lo = 0x80;
            m_hi = 0xBF;
        }
    }
    return true;
}

bool is_valid_utf8(std::string_view bytes) noexcept {
    Utf8Validator v;
    return v.feed(bytes) && v.complete();
}

}  // namespace dally::web::detail

// dally/detail/queue.hpp: the runtime's queues. Internal.
// MpscQueue is Vyukov's intrusive multi-producer single-consumer queue: push is
// wait-free (one exchange), pop is done by the owning runtime only.
#pragma once

#include <atomic>
#include <coroutine>
#include <cstddef>
#include <memory>

namespace dally::detail {

struct MpscNode {
    std::atomic<MpscNode*> next{nullptr};
    // Runs the message (run == true) or disposes of it without running (runtime shutdown).
    void (*fn)(MpscNode* self, bool run) = nullptr;
};

class MpscQueue {
public:
    MpscQueue() noexcept : m_head(&m_stub), m_tail(&m_stub) {}
    MpscQueue(const MpscQueue&) = delete;
    MpscQueue& operator=(const MpscQueue&) = delete;

    // Any thread.
    void push(MpscNode* n) noexcept {
        n->next.store(nullptr, std::memory_order_relaxed);
        MpscNode* prev = m_head.exchange(n, std::memory_order_seq_cst);
        prev->next.store(n, std::memory_order_release);
    }

    // Consumer only. May return nullptr while a producer is between its two steps.
    MpscNode* pop() noexcept {
        MpscNode* tail = m_tail;
        MpscNode* next = tail->next.load(std::memory_order_acquire);
        if (tail == &m_stub) {
            if (next == nullptr) return nullptr;
            m_tail = next;
            tail = next;
            next = next->next.load(std::memory_order_acquire);
        }
        if (next != nullptr) {
            m_tail = next;
            return tail;
        }
        if (tail != m_head.load(std::memory_order_acquire)) return nullptr;
        push(&m_stub);
        next = tail->next.load(std::memory_order_acquire);
        if (next != nullptr) {
            m_tail = next;
            return tail;
        }
        return nullptr;
    }

    // Consumer only: false only when no producer has pushed anything not yet popped.
    bool maybe_nonempty() const noexcept {
        return m_head.load(std::memory_order_seq_cst) != m_tail ||
               m_tail->next.load(std::memory_order_acquire) != nullptr;
    }

private:
    alignas(64) std::atomic<MpscNode*> m_head;
    alignas(64) MpscNode* m_tail;
    MpscNode m_stub;
};

// FIFO of coroutines ready to resume; a growable power-of-two ring. Owner thread only.
class ReadyQueue {
public:
    ReadyQueue() : m_buf(std::make_unique<std::coroutine_handle<>[]>(256)), m_mask(255) {}
    bool empty() const noexcept { return m_head == m_tail; }
    std::size_t size() const noexcept { return m_tail - m_head; }
    void push(std::coroutine_handle<> h) {
        if (m_tail - m_head == m_mask + 1) grow();
        m_buf[m_tail++ & m_mask] = h;
    }
    std::coroutine_handle<> pop() noexcept { return m_buf[m_head++ & m_mask]; }

private:
    void grow() {
        std::size_t cap = (m_mask + 1) * 2;
        auto next = std::make_unique<std::coroutine_handle<>[]>(cap);
        std::size_t n = size();
        for (std::size_t i = 0; i < n; ++i) next[i] = m_buf[(m_head + i) & m_mask];
        m_buf = std::move(next);
        m_mask = cap - 1;
        m_head = 0;
        m_tail = n;
    }
    std::unique_ptr<std::coroutine_handle<>[]> m_buf;
    std::size_t m_mask;
    std::size_t m_head = 0;
    std::size_t m_tail = 0;
};

}  // namespace dally::detail

// libbpf prints its diagnostics through a hook (libbpf_set_print); pidflow keeps the last
// warning line per thread for its own error messages instead of writing to the user's stderr
// (the library never prints). Shared by sock_events.cc and socket_owners.cc.
#ifndef PIDFLOW_LIBBPF_LOG_H_
#define PIDFLOW_LIBBPF_LOG_H_

#include <bpf/libbpf.h>

#include <cstdarg>
#include <cstdio>
#include <string>

namespace pidflow {

/** The last warning libbpf printed on this thread ("libbpf: " prefix removed). */
inline thread_local std::string g_libbpf_last;

inline int KeepLibbpfLine(enum libbpf_print_level level, const char* format, va_list args) {
  if (level == LIBBPF_DEBUG) return 0;
  char text[512];
  int n = vsnprintf(text, sizeof(text), format, args);
  std::string line(text);
  while (!line.empty() && (line.back() == '\n' || line.back() == ' ')) line.pop_back();
  if (line.rfind("libbpf: ", 0) == 0) line.erase(0, 8);
  if (!line.empty()) g_libbpf_last = line;
  return n;
}

/** Route libbpf's output to KeepLibbpfLine and forget the last line. */
inline void StartLibbpfLog() {
  libbpf_set_print(KeepLibbpfLine);
  g_libbpf_last.clear();
}

}  // namespace pidflow

#endif

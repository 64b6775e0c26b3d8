// pcap file writing with libpcap's savefile API (man 3pcap pcap_dump_open, pcap_dump,
// pcap_dump_flush), with rotation by size and an optional limit on the number of files kept
// (like tcpdump -C/-W). Shared by the capture threads of one capture set: every call takes the
// writer's mutex. A write error closes the file and is kept as text for stats; it never stops
// the capture. A file that cannot be removed is counted and kept as text; writing goes on.
#pragma once
#include <pcap/pcap.h>

#include <atomic>
#include <cstdint>
#include <mutex>
#include <string>

namespace pidflow {

class SaveFile {
 public:
  SaveFile() = default;
  ~SaveFile();
  SaveFile(const SaveFile&) = delete;
  SaveFile& operator=(const SaveFile&) = delete;

  // Prepare writing to `path` (rotated to path.1, path.2, ... when a file would exceed
  // rotate_bytes; 0 = never rotate). With max_files > 0, opening file number k >= max_files
  // first deletes file number k - max_files, so at most max_files files exist (0 = keep all).
  // Errors are kept in Error() / RemoveError(), not returned.
  void Open(const std::string& path, int link_type, int snaplen, uint64_t rotate_bytes,
            uint64_t max_files);
  // Mark the writer failed before any packet (e.g. devices with different link types).
  void Fail(const std::string& message);
  void Write(const struct pcap_pkthdr* header, const u_char* data);
  void Flush();
  void Close();

  bool enabled() const { return enabled_; }
  const std::string& path() const { return path_; }
  uint64_t written_packets() const { return written_packets_.load(std::memory_order_relaxed); }
  uint64_t written_bytes() const { return written_bytes_.load(std::memory_order_relaxed); }
  uint64_t files() const { return files_.load(std::memory_order_relaxed); }
  // Old files deleted because of max_files (a file already gone is not counted).
  uint64_t removed_files() const { return removed_files_.load(std::memory_order_relaxed); }
  // Old files that could not be deleted (other than already gone); RemoveError() has the last.
  uint64_t remove_failures() const { return remove_failures_.load(std::memory_order_relaxed); }
  std::string Error();
  std::string RemoveError();

 private:
  bool OpenFileLocked();
  std::string FileNameLocked(uint64_t index) const;
  void RemoveOldFileLocked(uint64_t index);
  void FailLocked(const std::string& what, int err);

  std::mutex mutex_;
  bool enabled_ = false;
  bool failed_ = false;
  std::string path_;
  std::string error_;
  std::string remove_error_;
  int snaplen_ = 0;
  uint64_t rotate_bytes_ = 0;
  uint64_t max_files_ = 0;  // 0 = keep every file
  uint64_t file_bytes_ = 0;     // bytes in the current file
  uint64_t pending_bytes_ = 0;  // bytes in the stdio buffer, not yet flushed
  pcap_t* dead_ = nullptr;
  pcap_dumper_t* dumper_ = nullptr;
  std::atomic<uint64_t> written_packets_{0};
  std::atomic<uint64_t> written_bytes_{0};
  std::atomic<uint64_t> files_{0};
  std::atomic<uint64_t> removed_files_{0};
  std::atomic<uint64_t> remove_failures_{0};
};

}  // namespace pidflow

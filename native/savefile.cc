// pcap savefile writer with size rotation (see savefile.h). File names: the first file is
// `path`, the next ones `path.1`, `path.2`, ... (like tcpdump -C, with a dot). With a file
// limit (like tcpdump -W), opening file k deletes file k - max_files; unlike tcpdump the
// numbers keep growing instead of wrapping, so names never get reused. Sizes are
// counted as libpcap writes them: a 24-byte file header plus 16 bytes + captured bytes per
// packet. Errors come from errno after fwrite/fflush (man 3pcap pcap_dump_flush).
#include "savefile.h"

#include <cerrno>
#include <cstdio>
#include <cstring>

#include <unistd.h>

namespace pidflow {

namespace {
constexpr uint64_t kFileHeaderBytes = 24;
constexpr uint64_t kRecordHeaderBytes = 16;
// stdio buffer of each file. Write() flushes before a record would not fit, so the buffer
// never spills half a record: if the process is killed (SIGKILL, default SIGINT), the file
// on disk still ends at a record boundary.
constexpr size_t kStdioBufferBytes = 1 << 20;
}  // namespace

SaveFile::~SaveFile() { Close(); }

void SaveFile::Open(const std::string& path, int link_type, int snaplen, uint64_t rotate_bytes,
                    uint64_t max_files) {
  std::lock_guard<std::mutex> lock(mutex_);
  enabled_ = true;
  path_ = path;
  snaplen_ = snaplen;
  rotate_bytes_ = rotate_bytes;
  max_files_ = max_files;
  dead_ = pcap_open_dead(link_type, snaplen);
  if (dead_ == nullptr) {
    FailLocked("pcap_open_dead failed for link type " + std::to_string(link_type), 0);
    return;
  }
  OpenFileLocked();
}

void SaveFile::Fail(const std::string& message) {
  std::lock_guard<std::mutex> lock(mutex_);
  enabled_ = true;
  FailLocked(message, 0);
}

std::string SaveFile::FileNameLocked(uint64_t index) const {
  return index == 0 ? path_ : path_ + "." + std::to_string(index);
}

// Delete an old file to keep at most max_files_. Already gone (moved or deleted by the user) is
// fine; any other error is counted and kept as text, and writing goes on.
void SaveFile::RemoveOldFileLocked(uint64_t index) {
  std::string name = FileNameLocked(index);
  if (unlink(name.c_str()) == 0) {
    removed_files_.fetch_add(1, std::memory_order_relaxed);
    return;
  }
  int err = errno;
  if (err == ENOENT) return;
  remove_failures_.fetch_add(1, std::memory_order_relaxed);
  remove_error_ = "cannot remove old pcap file " + name + ": " + std::strerror(err);
}

bool SaveFile::OpenFileLocked() {
  uint64_t index = files_.load(std::memory_order_relaxed);
  if (max_files_ > 0 && index >= max_files_) RemoveOldFileLocked(index - max_files_);
  std::string name = FileNameLocked(index);
  FILE* fp = std::fopen(name.c_str(), "wb");
  if (fp == nullptr) {
    FailLocked("cannot write " + name, errno);
    return false;
  }
  if (setvbuf(fp, nullptr, _IOFBF, kStdioBufferBytes) != 0) {
    std::fclose(fp);
    FailLocked("cannot set a write buffer for " + name, errno);
    return false;
  }
  dumper_ = pcap_dump_fopen(dead_, fp);
  if (dumper_ == nullptr) {
    std::fclose(fp);
    FailLocked(std::string("cannot write ") + name + ": " + pcap_geterr(dead_), 0);
    return false;
  }
  pending_bytes_ = kFileHeaderBytes;
  files_.fetch_add(1, std::memory_order_relaxed);
  file_bytes_ = kFileHeaderBytes;
  written_bytes_.fetch_add(kFileHeaderBytes, std::memory_order_relaxed);
  return true;
}

void SaveFile::FailLocked(const std::string& what, int err) {
  failed_ = true;
  error_ = err != 0 ? what + ": " + std::strerror(err) : what;
  if (dumper_ != nullptr) {
    pcap_dump_close(dumper_);  // a second error while closing changes nothing: already failed
    dumper_ = nullptr;
  }
}

void SaveFile::Write(const struct pcap_pkthdr* header, const u_char* data) {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failed_ || dumper_ == nullptr) return;
  struct pcap_pkthdr h = *header;
  if (h.caplen > static_cast<bpf_u_int32>(snaplen_)) h.caplen = static_cast<bpf_u_int32>(snaplen_);
  uint64_t bytes = kRecordHeaderBytes + h.caplen;
  if (rotate_bytes_ > 0 && file_bytes_ + bytes > rotate_bytes_ && file_bytes_ > kFileHeaderBytes) {
    if (pcap_dump_flush(dumper_) != 0) {
      FailLocked("writing " + path_ + " failed", errno);
      return;
    }
    pcap_dump_close(dumper_);
    dumper_ = nullptr;
    if (!OpenFileLocked()) return;
  }
  if (pending_bytes_ + bytes > kStdioBufferBytes) {
    if (pcap_dump_flush(dumper_) != 0) {
      FailLocked("writing " + path_ + " failed", errno);
      return;
    }
    pending_bytes_ = 0;
  }
  pcap_dump(reinterpret_cast<u_char*>(dumper_), &h, data);
  pending_bytes_ += bytes;
  if (ferror(pcap_dump_file(dumper_))) {
    FailLocked("writing " + path_ + " failed", errno);
    return;
  }
  file_bytes_ += bytes;
  written_packets_.fetch_add(1, std::memory_order_relaxed);
  written_bytes_.fetch_add(bytes, std::memory_order_relaxed);
}

void SaveFile::Flush() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (failed_ || dumper_ == nullptr) return;
  if (pcap_dump_flush(dumper_) != 0) FailLocked("writing " + path_ + " failed", errno);
  pending_bytes_ = 0;
}

void SaveFile::Close() {
  std::lock_guard<std::mutex> lock(mutex_);
  if (dumper_ != nullptr) {
    if (pcap_dump_flush(dumper_) != 0) FailLocked("writing " + path_ + " failed", errno);
  }
  if (dumper_ != nullptr) {
    pcap_dump_close(dumper_);
    dumper_ = nullptr;
  }
  if (dead_ != nullptr) {
    pcap_close(dead_);
    dead_ = nullptr;
  }
}

std::string SaveFile::Error() {
  std::lock_guard<std::mutex> lock(mutex_);
  return error_;
}

std::string SaveFile::RemoveError() {
  std::lock_guard<std::mutex> lock(mutex_);
  return remove_error_;
}

}  // namespace pidflow

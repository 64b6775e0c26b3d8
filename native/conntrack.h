// Connection tracking translations through ctnetlink (NETLINK_NETFILTER, NFNL_SUBSYS_CTNETLINK):
// one conntrack entry looked up by tuple, per flow (never per packet). No library: raw netlink.
#ifndef PIDFLOW_CONNTRACK_H_
#define PIDFLOW_CONNTRACK_H_

#include <napi.h>

namespace pidflow {

/** conntrackOpen() -> fd: a NETLINK_NETFILTER socket in the caller's network namespace. */
Napi::Value ConntrackOpen(const Napi::CallbackInfo& info);

/**
 * conntrackGet(fd, ipVersion, protocol, srcAddress, srcPort, dstAddress, dstPort) ->
 * [origSrc, origSrcPort, origDst, origDstPort, replySrc, replySrcPort, replyDst, replyDstPort]
 * of the entry one of whose two tuples is exactly the one given, or null when there is none.
 */
Napi::Value ConntrackGet(const Napi::CallbackInfo& info);

/** conntrackClose(fd). */
Napi::Value ConntrackClose(const Napi::CallbackInfo& info);

}  // namespace pidflow

#endif

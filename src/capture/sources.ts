// The two PacketSource constructors over the addon: live capture and pcap file replay.
export { openCapture } from './open-capture.js';
export type { CaptureOptions, PcapFileOptions } from './open-capture.js';
export { openPcapFile } from './open-pcap-file.js';
export type { PcapFileSourceOptions } from './open-pcap-file.js';
export type { CaptureWarning, WarningHandler } from './native-source.js';

// The library's public surface: an explicit list; everything else stays internal.
export {
  PidflowError,
  UsageError,
  CaptureError,
  PermissionError,
  AddonLoadError,
  StateError,
  LimitError,
  isPidflowError,
} from './errors.js';
export { createMonitor } from './monitor/create-monitor.js';
export type { MonitorDependencies } from './monitor/create-monitor.js';
export { listDevices } from './capture/devices.js';
export type { DeviceInfo } from './capture/devices.js';
export { systemClock, FakeClock } from './clock.js';
export type { Clock, TimerHandle } from './clock.js';
export type * from './monitor/types.js';
export { decodeBytes, encodeBytes } from './text/bytes.js';
export { toDisplayText, displayWidth, fitDisplay } from './text/display-text.js';
export type { DisplayText } from './text/display-text.js';

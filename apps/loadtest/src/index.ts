export { type CliIo, type CliOutput, HELP, parseDuration, runCli, transports } from './cli.ts';
export { tcpTransport, udpTransport, udpUnreliableTransport } from './client-transport.ts';
export { LoadtestErrorCode } from './errors.ts';
export {
  LatencyHistogram,
  type LatencyHistogramOptions,
  type LatencySummary,
} from './histogram.ts';
export { readMetric, type ServerSample, scrapeServer } from './metrics.ts';
export { formatBytes, formatMicros, formatProgress, formatReport } from './report.ts';
export {
  checkLoadOptions,
  errorChannel,
  isLoopback,
  type LoadOptions,
  type LoadReport,
  type Progress,
  runLoad,
  type ServerUsage,
} from './runner.ts';
export type {
  CloseHandler,
  LoadConnection,
  LoadTransport,
  OpenOptions,
  ResponseHandler,
} from './transport.ts';

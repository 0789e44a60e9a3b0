export * from './logger.js';
export * from './metrics.js';
export * from './clip.js';
export * from './log-throttle.js';

export * from '../../bench/support/accord-process.js';

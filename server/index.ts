/** The scheduler server process: database + scheduler + gRPC + REST. */
export { startServer, type ServerOptions, type RunningServer } from './server.js';
export { parseListen, formatHostPort } from './listen.js';

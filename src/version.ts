// The version reported by --version and /status (kept in step with package.json by a unit test).
export const VERSION = '0.1.0';

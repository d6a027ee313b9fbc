// The scripts' progress lines: `<script>: <text>`, one a line on standard output (as zx's echo writes them).

/**
 * The `say` of a script: say(text) prints `<prefix>: <text>`.
 * @param {string} prefix
 * @returns {(text: string) => void}
 */
export const sayAs = (prefix) => (text) => console.log(`${prefix}: ${text}`);

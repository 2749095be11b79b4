/** sh answering a lone -version / --version on stderr (both builds' launchers start with it). */
export function shVersionAnswer(version: string, notice: string): string;
export const JS_BEGIN: string;
export const JS_END: string;
/** The head of a weighted flanneld stand-in: sh launcher, begin marker, program, end marker. */
export function weightedHead(version: string, notice: string, js: string | Uint8Array): Buffer;

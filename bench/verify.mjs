export const name='verify'; export const needsRoot=true; export async function bench(){ throw new Error('todo'); }

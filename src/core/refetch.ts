/**
 * Fetch an asset again to explain why it did not load (a worker module, onnxruntime's binary):
 * the response when the server gave one with a 2xx status, else what went wrong, in words.
 */
export async function refetch(url: string): Promise<Response | string> {
  let response: Response;
  try {
    response = await fetch(url, { cache: 'no-store', credentials: 'same-origin' });
  } catch (cause) {
    return `it could not be fetched (${cause instanceof Error ? cause.message : String(cause)})`;
  }
  return response.ok ? response : `the server answered ${response.status}`;
}

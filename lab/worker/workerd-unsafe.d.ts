/** workerd's test-only module (compatibility flag `unsafe_module`), which the lab's workerd enables. */
declare module "workerd:unsafe" {
  const unsafe: {
    /** Resets every Durable Object of the process: calls in flight fail, in-memory state is gone, storage stays. */
    abortAllDurableObjects(): Promise<void>;
  };
  export default unsafe;
}

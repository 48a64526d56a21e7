import { defineConfig } from "drizzle-kit";

// The embedded database `npm run dev` starts; DATABASE_URL points drizzle-kit anywhere else.
const url = process.env.DATABASE_URL ?? "postgres://postgres:postgres@127.0.0.1:54329/clinic";

export default defineConfig({
  dialect: "postgresql",
  schema: "./db/schema/index.ts",
  out: "./drizzle",
  dbCredentials: { url },
  strict: true,
  verbose: true,
});

export default function Home() {
  return (
    <main>
      <h1>Hello from __APP__ (Next.js)</h1>
      <p>Edit pages/index.js and deploy again.</p>
    </main>
  );
}

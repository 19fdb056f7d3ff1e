import { navigate } from '../router.ts';
import { DeployForm } from './deploy-form.tsx';

export function NewFunction() {
  return (
    <section>
      <h1>New function</h1>
      <DeployForm onDeployed={(fn) => navigate(`/functions/${encodeURIComponent(fn.name)}`)} />
    </section>
  );
}
